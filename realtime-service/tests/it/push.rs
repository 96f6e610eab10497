//! Push subscriptions through the gRPC API: each change answers the user's count.

use talkapp_proto::realtime::v1 as proto;

use crate::support::{Account, Backing, RealtimeApp};

fn subscription(user_id: &str, endpoint: &str) -> proto::PushSubscription {
    let keys = talkapp_webpush::UserAgentKeys::generate();
    proto::PushSubscription {
        user_id: user_id.into(),
        endpoint: endpoint.into(),
        p256dh: keys.p256dh(),
        auth: keys.auth(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_and_removing_a_push_subscription_answer_the_users_count() {
    // The subscriptions are in the store, the same in both backings.
    let app = RealtimeApp::start(Backing::Embedded, 1000).await;
    let user = Account::new().user_id;
    let other = Account::new().user_id;
    let mut client = app.client.clone();
    let first = "https://push.example/device-1";
    let second = "https://push.example/device-2";

    let added = |user: &str, endpoint: &str| {
        let mut client = client.clone();
        let request = subscription(user, endpoint);
        async move {
            client
                .add_push_subscription(request)
                .await
                .expect("added")
                .into_inner()
        }
    };
    let reply = added(&user, first).await;
    assert_eq!((reply.subscriptions, reply.removed), (1, false));
    let reply = added(&user, second).await;
    assert_eq!((reply.subscriptions, reply.removed), (2, false));
    // Another user's subscription is not counted for this one.
    let reply = added(&other, first).await;
    assert_eq!((reply.subscriptions, reply.removed), (1, false));

    let removed = client
        .remove_push_subscription(proto::RemovePushSubscriptionRequest {
            user_id: user.clone(),
            endpoint: first.into(),
        })
        .await
        .expect("removed")
        .into_inner();
    assert_eq!((removed.subscriptions, removed.removed), (1, true));
    let again = client
        .remove_push_subscription(proto::RemovePushSubscriptionRequest {
            user_id: user.clone(),
            endpoint: first.into(),
        })
        .await
        .expect("answered")
        .into_inner();
    assert_eq!((again.subscriptions, again.removed), (1, false));
    app.stop().await;
}
