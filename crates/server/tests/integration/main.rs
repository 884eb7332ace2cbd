//! Integration tests of the analyzer over real HTTP and WebSocket connections on loopback,
//! with a real history store in a temporary directory. One binary, one module per area.

mod api_crud;
mod api_errors;
mod history_restart;
mod util;
mod ws_publisher;
mod ws_subscriber;
