//! A realtime service on a fresh bus, log and store, and a client.

use std::time::Duration;

use prost::Message as _;
use talkapp_bus::Bus;
use talkapp_common::config::{Config, ConfigSources};
use talkapp_proto::realtime::v1 as proto;
use talkapp_proto::realtime::v1::realtime_service_client::RealtimeServiceClient;
use talkapp_proto::tonic::Streaming;
use talkapp_proto::tonic::transport::Channel;
use talkapp_realtime_service::Application;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

/// Which bus and log the service runs on.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Backing {
    /// The embedded default: both in process.
    Embedded,
    /// Split mode: RabbitMQ and Redis, under prefixes of the test's own.
    Servers,
}

/// A realtime service under test, and the bus its events come from.
pub(crate) struct RealtimeApp {
    pub(crate) client: RealtimeServiceClient<Channel>,
    bus: Bus,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl RealtimeApp {
    /// Starts the service on `backing`, keeping at most `retained` events per account.
    pub(crate) async fn start(backing: Backing, retained: u32) -> Self {
        let data_dir = std::env::temp_dir().join(format!("talkapp-realtime-{}", Uuid::new_v4()));
        let prefix = format!("talkapp-test-{}", Uuid::new_v4().simple());
        let mut settings: Vec<(String, String)> = vec![
            ("data.dir".into(), data_dir.display().to_string()),
            (
                "database.url".into(),
                format!("sqlite://{}/talkapp.db", data_dir.display()),
            ),
            ("realtime.retained_events".into(), retained.to_string()),
        ];
        if let Backing::Servers = backing {
            settings.extend([
                ("redis.url".into(), "redis://127.0.0.1:6379".into()),
                ("redis.prefix".into(), prefix.clone()),
                (
                    "amqp.url".into(),
                    "amqp://guest:guest@127.0.0.1:5672/%2f".into(),
                ),
                ("amqp.prefix".into(), prefix),
                ("amqp.queue_type".into(), "classic".into()),
                ("amqp.queue_expires_secs".into(), "30".into()),
            ]);
        }
        let config = Config::load(&ConfigSources {
            file: None,
            overrides: settings,
            read_environment: false,
        })
        .expect("test config is valid");
        let store = talkapp_store::connect(&config.database)
            .await
            .expect("store opens");
        let bus = Bus::from_config(&config.amqp);
        let listener = talkapp_common::grpc_server::bind("127.0.0.1:0".parse().expect("address"))
            .await
            .expect("listener");
        let app = Application::build(&config, store, bus.clone(), listener)
            .await
            .expect("realtime service builds");
        let url = format!("http://127.0.0.1:{}", app.port());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(app.run_until_stopped(shutdown.clone()));
        let channel = Channel::from_shared(url).expect("url").connect_lazy();
        Self {
            client: RealtimeServiceClient::new(channel),
            bus,
            shutdown,
            task,
        }
    }

    /// Publishes a `typing` event of the account as its host would (the id is the host's).
    pub(crate) async fn publish(&self, account: &Account, event_id: i64) {
        publish_typing(&self.bus, &account.user_id, account.session_index, event_id).await;
    }

    /// Opens a stream of the account's events.
    pub(crate) async fn subscribe(
        &self,
        account: &Account,
        since: Option<i64>,
        connection_id: &str,
    ) -> Streaming<proto::Event> {
        self.client
            .clone()
            .subscribe(proto::SubscribeRequest {
                user_id: account.user_id.clone(),
                session_index: account.session_index,
                since: since.unwrap_or(0),
                has_since: since.is_some(),
                connection_id: connection_id.into(),
                from_log_start: false,
            })
            .await
            .expect("subscribed")
            .into_inner()
    }

    /// Stops the service.
    pub(crate) async fn stop(self) {
        self.shutdown.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.task)
            .await
            .expect("stops in time")
            .expect("task")
            .expect("stops cleanly");
    }
}

/// A linked account (the realtime service knows accounts only by their events).
pub(crate) struct Account {
    pub(crate) user_id: String,
    pub(crate) session_index: u32,
}

impl Account {
    pub(crate) fn new() -> Self {
        Self {
            user_id: Uuid::new_v4().to_string(),
            session_index: 1,
        }
    }
}

/// The `typing` event number `event_id` of the account `(user_id, session_index)`: the
/// event every test here publishes (its action names its id).
pub(crate) fn typing_event(user_id: &str, session_index: u32, event_id: i64) -> proto::Event {
    proto::Event {
        event_id,
        user_id: user_id.into(),
        session_index,
        r#type: "typing".into(),
        at: chrono::Utc::now().to_rfc3339(),
        payload: Some(proto::event::Payload::Typing(proto::Typing {
            chat_id: "42".into(),
            sender_id: "7".into(),
            action: format!("typing #{event_id}"),
        })),
    }
}

/// Publishes `typing_event` on `bus` under its routing key, as the account's host would.
pub(crate) async fn publish_typing(bus: &Bus, user_id: &str, session_index: u32, event_id: i64) {
    let event = typing_event(user_id, session_index, event_id);
    let routing_key = format!("{user_id}.{session_index}.typing");
    bus.events
        .publish_event(&routing_key, &event.encode_to_vec())
        .await
        .expect("published");
}

/// The next `count` events of a stream, each within 10 s.
pub(crate) async fn next_events(
    stream: &mut Streaming<proto::Event>,
    count: usize,
) -> Vec<proto::Event> {
    let mut events = Vec::with_capacity(count);
    while events.len() < count {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.message())
            .await
            .unwrap_or_else(|_| panic!("only {} of {count} events came", events.len()))
            .expect("the stream is healthy")
            .expect("the stream goes on");
        events.push(event);
    }
    events
}
