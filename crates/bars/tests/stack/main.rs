//! Tests across roles: senders, the proxy, receivers and the registry, over real sockets and TLS.

mod kit;

mod demo;
mod messaging;
mod pointers;
mod processes;
mod proxy;
mod relay;
mod sdk;
mod shared_database;
