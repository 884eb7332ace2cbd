//! Integration tests of the analyzer over real HTTP and WebSocket connections on loopback,
//! with a real history store in a temporary directory. One binary, one module per area.

mod agent_captures;
mod agent_lab;
mod agent_multi;
mod agent_overflow;
mod agent_protocol;
mod agent_restart;
mod agents;
mod api_crud;
mod api_errors;
mod captures;
mod flows;
mod history_restart;
mod util;
mod ws_publisher;
mod ws_subscriber;
