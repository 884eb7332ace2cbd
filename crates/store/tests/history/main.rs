//! Integration tests of the history store: real fjall databases in temporary directories.

mod common;
mod crash;
mod model;
mod recording;
mod restart;
mod retention;
mod views;
