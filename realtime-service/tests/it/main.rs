//! The realtime service at its own boundary: events published on a real bus (in process,
//! or RabbitMQ), kept in a real log (in process, or Redis), streamed through its gRPC API
//! (`talkapp.realtime.v1.RealtimeService`). A failure here names the realtime service.

mod live;
mod push;
mod streams;
mod support;
