//! Skydive flows (work in progress).
#![forbid(unsafe_code)]
