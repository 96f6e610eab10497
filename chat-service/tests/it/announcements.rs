//! Where an accepted job goes: the replica that consumes the job's shard hands it to the
//! account's worker itself and publishes nothing on the shard's queue (ADR 0060); the
//! jobs still go out once each, in the order asked. On SQLite with the bus in process,
//! and on PostgreSQL with RabbitMQ.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use talkapp_bus::{BusError, JobQueue, Subscription};
use talkapp_proto::chat::v1 as proto;
use talkapp_tg_sandbox::{DEMO_2FA_PHONE, DEMO_PHONE, Peer, World};

use crate::sends::until_sent;
use crate::support::{Backing, ChatApp};

/// The service's job queues, counting the announcements published on them.
struct CountingJobs {
    inner: Arc<dyn JobQueue>,
    published: Arc<AtomicUsize>,
}

#[async_trait]
impl JobQueue for CountingJobs {
    fn backend(&self) -> &'static str {
        self.inner.backend()
    }

    async fn publish(&self, shard: u16, body: &[u8]) -> Result<(), BusError> {
        self.published.fetch_add(1, Ordering::SeqCst);
        self.inner.publish(shard, body).await
    }

    async fn consume(&self, shard: u16, prefetch: u16) -> Result<Subscription, BusError> {
        self.inner.consume(shard, prefetch).await
    }

    async fn dead_letter(&self, body: &[u8]) -> Result<(), BusError> {
        self.inner.dead_letter(body).await
    }
}

async fn sends_accepted_where_their_shard_is_consumed_skip_the_queue(backing: Backing) {
    let published = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&published);
    let app = ChatApp::start_wrapping_jobs(backing, World::demo().expect("demo world"), |jobs| {
        Arc::new(CountingJobs {
            inner: jobs,
            published: counted,
        })
    })
    .await;
    let account = app.link(DEMO_PHONE).await;
    app.chats_once_cached(&account).await;
    let (alice, bob) = (
        app.sandbox.user_by_phone(DEMO_PHONE).expect("alice").id,
        app.sandbox.user_by_phone(DEMO_2FA_PHONE).expect("bob").id,
    );

    const SENDS: usize = 8;
    let mut jobs = Vec::with_capacity(SENDS);
    for n in 0..SENDS {
        let job = app
            .client
            .clone()
            .send_message(proto::SendMessageRequest {
                account: Some(account.clone()),
                chat_id: bob.to_string(),
                text: format!("handed {n}"),
                reply_to: None,
                silent: false,
                client_message_id: Some(format!("handed-{n}")),
            })
            .await
            .expect("accepted")
            .into_inner();
        jobs.push(job.job_id);
    }
    // A repeated key answers its first job and hands nothing over again.
    let repeated = app
        .client
        .clone()
        .send_message(proto::SendMessageRequest {
            account: Some(account.clone()),
            chat_id: bob.to_string(),
            text: "handed 0".into(),
            reply_to: None,
            silent: false,
            client_message_id: Some("handed-0".into()),
        })
        .await
        .expect("accepted")
        .into_inner();
    assert_eq!(repeated.job_id, jobs[0]);
    for job in &jobs {
        until_sent(&app, &account, job).await;
    }

    let received: Vec<String> = app.sandbox.world(|world| {
        let mut ids = world.message_ids(bob, Peer::User(alice));
        ids.sort_unstable();
        ids.iter()
            .filter_map(|id| world.message_text(bob, Peer::User(alice), *id))
            .filter(|text| text.starts_with("handed "))
            .map(str::to_owned)
            .collect()
    });
    let expected: Vec<String> = (0..SENDS).map(|n| format!("handed {n}")).collect();
    assert_eq!(received, expected, "each send once, in the order asked");
    assert_eq!(
        published.load(Ordering::SeqCst),
        0,
        "jobs of a shard consumed here are not announced on its queue"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_accepted_where_their_shard_is_consumed_skip_the_queue_on_sqlite() {
    sends_accepted_where_their_shard_is_consumed_skip_the_queue(Backing::Embedded).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sends_accepted_where_their_shard_is_consumed_skip_the_queue_on_postgres_and_rabbitmq() {
    sends_accepted_where_their_shard_is_consumed_skip_the_queue(Backing::Servers).await;
}
