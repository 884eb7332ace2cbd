//! Integration tests of the flow store: real fjall databases in temporary directories, fed
//! with what real flow tables emit.

mod common;
mod crash;
mod model;
mod restart;
mod retention;
mod search;
