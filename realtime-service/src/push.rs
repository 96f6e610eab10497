//! Web Push notifications: a new incoming message reaches the user's browsers when the
//! user has no live connection and the chat is not muted.

use std::sync::Arc;

use talkapp_proto::realtime::v1 as proto;
use talkapp_store::{AccountKey, RealtimeStore};
use talkapp_webpush::{
    SendOptions, SendOutcome, Subscription, Urgency, WebPushError, WebPushSender,
};
use tokio::sync::Semaphore;

use crate::presence::Presence;

/// Notifications being sent at once (each is an HTTPS request to a push service).
const CONCURRENT_SENDS: usize = 64;
/// The longest message text put in a notification.
const MAX_BODY_CHARS: usize = 200;

/// Decides and sends notifications.
pub struct Notifier {
    store: Arc<dyn RealtimeStore>,
    presence: Arc<Presence>,
    sender: WebPushSender,
    slots: Arc<Semaphore>,
}

/// What a notification says (the JSON the service worker receives).
#[derive(serde::Serialize)]
struct Notification<'a> {
    r#type: &'a str,
    session_index: u32,
    chat_id: &'a str,
    message_id: i32,
    event_id: i64,
    title: String,
    body: String,
}

fn summary(message: &talkapp_proto::chat::v1::Message) -> String {
    let text: String = message.text.chars().take(MAX_BODY_CHARS).collect();
    match (&message.media, text.is_empty()) {
        (Some(media), true) => format!("[{}]", media.kind),
        _ => text,
    }
}

impl Notifier {
    /// Notifications signed by `sender`'s VAPID key, for subscriptions in `store`.
    pub fn new(
        store: Arc<dyn RealtimeStore>,
        presence: Arc<Presence>,
        sender: WebPushSender,
    ) -> Arc<Self> {
        Arc::new(Self {
            store,
            presence,
            sender,
            slots: Arc::new(Semaphore::new(CONCURRENT_SENDS)),
        })
    }

    /// The public key browsers subscribe with (`applicationServerKey`).
    pub fn public_key(&self) -> &str {
        self.sender.vapid_public_key()
    }

    /// Notifies about `event` when it calls for it; never blocks the caller.
    pub fn consider(self: &Arc<Self>, event: &proto::Event) {
        if event.r#type != "message.new" {
            return;
        }
        let Some(proto::event::Payload::Message(message)) = &event.payload else {
            return;
        };
        if message.outgoing {
            return;
        }
        let notifier = Arc::clone(self);
        let event = event.clone();
        tokio::spawn(async move {
            let Ok(_slot) = Arc::clone(&notifier.slots).acquire_owned().await else {
                return;
            };
            notifier.notify(event).await;
        });
    }

    async fn notify(&self, event: proto::Event) {
        let Some(proto::event::Payload::Message(message)) = &event.payload else {
            return;
        };
        let Ok(user_id) = uuid::Uuid::parse_str(&event.user_id) else {
            return;
        };
        if self.presence.connections(user_id).await > 0 {
            return;
        }
        let key = AccountKey {
            user_id,
            session_index: event.session_index,
        };
        let chat_id: i64 = message.chat_id.parse().unwrap_or(0);
        let chat = match self.store.cached_chat(key, chat_id).await {
            Ok(chat) => chat,
            Err(error) => {
                tracing::warn!(%error, "cannot check whether the chat is muted; not notifying");
                return;
            }
        };
        let now = chrono::Utc::now().timestamp();
        if chat
            .as_ref()
            .and_then(|chat| chat.dialog.as_ref())
            .is_some_and(|dialog| dialog.muted_until > now)
        {
            return;
        }
        let subscriptions = match self.store.push_subscriptions(user_id).await {
            Ok(subscriptions) => subscriptions,
            Err(error) => {
                tracing::warn!(%error, "cannot read push subscriptions");
                return;
            }
        };
        if subscriptions.is_empty() {
            return;
        }
        let sender_name = message
            .sender
            .as_ref()
            .map(|sender| sender.name.clone())
            .unwrap_or_default();
        let chat_title = chat.map(|chat| chat.profile.title).unwrap_or_default();
        let title = if chat_id > 0 || chat_title.is_empty() {
            sender_name
        } else if sender_name.is_empty() {
            chat_title
        } else {
            format!("{sender_name} @ {chat_title}")
        };
        let notification = Notification {
            r#type: "message.new",
            session_index: event.session_index,
            chat_id: &message.chat_id,
            message_id: message.id,
            event_id: event.event_id,
            title,
            body: summary(message),
        };
        let Ok(payload) = serde_json::to_vec(&notification) else {
            return;
        };
        let options = SendOptions {
            urgency: Urgency::High,
            // A newer notification of the same chat replaces an undelivered one.
            topic: Some(format!("c{chat_id}")),
            ..SendOptions::default()
        };
        for subscription in subscriptions {
            let target = Subscription {
                endpoint: subscription.endpoint.clone(),
                p256dh: subscription.p256dh.clone(),
                auth: subscription.auth.clone(),
            };
            match self.sender.send(&target, &payload, &options).await {
                Ok(SendOutcome::Delivered) => {
                    metrics::counter!("talkapp_push_sent_total").increment(1);
                }
                Ok(SendOutcome::Gone { .. }) => {
                    tracing::info!("push subscription gone; removing it");
                    self.forget(user_id, &subscription.endpoint).await;
                }
                Ok(outcome) => {
                    metrics::counter!("talkapp_push_failed_total").increment(1);
                    tracing::info!(?outcome, "push not delivered");
                }
                Err(
                    error @ (WebPushError::InvalidBase64 { .. } | WebPushError::InvalidKey { .. }),
                ) => {
                    metrics::counter!("talkapp_push_failed_total").increment(1);
                    tracing::info!(%error, "push subscription has unusable keys; removing it");
                    self.forget(user_id, &subscription.endpoint).await;
                }
                Err(error) => {
                    // Our side (the payload, the endpoint's scheme): the subscription stays.
                    metrics::counter!("talkapp_push_failed_total").increment(1);
                    tracing::warn!(%error, "push not sent");
                }
            }
        }
    }

    /// Removes a subscription the push service will not take again. One the store fails
    /// to remove is tried again, and removed then, the next time a push goes to it.
    async fn forget(&self, user_id: uuid::Uuid, endpoint: &str) {
        if let Err(error) = self.store.remove_push_subscription(user_id, endpoint).await {
            tracing::warn!(%error, %user_id, "dead push subscription not removed; next push retries");
        }
    }
}
