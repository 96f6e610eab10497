//! The audit log's writing side: which requests are audited, what a record holds, and
//! the writer that appends records to the store in batches.
//!
//! [`record_actions`] wraps every request. A request whose route is in [`RULES`] gets one
//! record when it ends: the action, the caller (noted by the authenticating extractors),
//! the path's parameters as the target, the status and problem code, the client's address
//! and user agent, the request and trace ids. Handlers add what only they know through
//! [`note`] (the account a failed sign-in named, a chat id from the body, a more precise
//! action), a task-local, so nothing is threaded through signatures.
//!
//! Records go to the store from one writer task in batches: a batch is what arrives
//! within `audit.batch_window_ms` (10) of its first record, stored in one statement
//! (ADR 0062), so under load a batch costs one wake-up of the writer and one round trip,
//! not one per request. A full queue makes the
//! request wait up to [`QUEUE_WAIT`]; a record that still finds no room, or that the store
//! keeps refusing for [`STORE_PATIENCE`], is written whole to the process log (target
//! `talkapp::audit`) instead, so it is never silently lost. `GET /me/audit` flushes first,
//! so a user reads their own latest actions.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::Duration;

use actix_web::HttpMessage as _;
use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::web;
use opentelemetry::trace::TraceContextExt as _;
use talkapp_store::{AuditActor, AuditOutcome, AuditStore, NewAuditEntry};
use tokio::sync::{mpsc, oneshot};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use uuid::Uuid;

use crate::middleware::RequestId;
use crate::problem::ErrorCodeTag;
use crate::state::AppState;

/// Records waiting for the writer.
const QUEUE: usize = 8192;
/// The most records appended in one store call.
const BATCH: usize = 256;
/// How long a request waits for room in a full queue before its record goes to the log.
const QUEUE_WAIT: Duration = Duration::from_secs(2);
/// How long the writer retries a batch the store refuses before logging it instead.
const STORE_PATIENCE: Duration = Duration::from_secs(30);
/// A user agent is kept up to this many bytes.
const MAX_USER_AGENT: usize = 256;

/// What a route's requests are recorded as.
struct Rule {
    method: Method,
    pattern: &'static str,
    /// `None`: recorded only when the handler names the action through [`note`]
    /// (`/auth/refresh` is recorded only for a reused token, not for every refresh).
    action: Option<&'static str>,
}

macro_rules! rules {
    ($($method:ident $pattern:literal => $action:expr),* $(,)?) => {
        &[$(Rule { method: Method::$method, pattern: $pattern, action: $action }),*]
    };
}

/// The audited routes: sign-in and out, linking, every change made to Telegram on a
/// user's behalf, file deletion, push subscriptions. Reads are not audited.
const RULES: &[Rule] = rules![
    POST "/auth/register" => Some("auth.register"),
    POST "/auth/login" => Some("auth.sign_in"),
    POST "/auth/logout" => Some("auth.sign_out"),
    POST "/auth/refresh" => None,
    POST "/auth/v1/signup" => Some("auth.register"),
    POST "/auth/v1/token" => None,
    POST "/auth/v1/logout" => Some("auth.sign_out"),
    POST "/me/sessions/{user_id}" => Some("telegram.link.start"),
    POST "/me/sessions/{user_id}/login/{login_id}/code" => Some("telegram.link.code"),
    POST "/me/sessions/{user_id}/login/{login_id}/password" => Some("telegram.link.password"),
    DELETE "/me/sessions/{user_id}/{session_index}" => Some("telegram.unlink"),
    POST "/start_login" => Some("telegram.link.start"),
    POST "/verify_code" => Some("telegram.link.code"),
    POST "/verify_password" => Some("telegram.link.password"),
    DELETE "/me/telegrams" => Some("telegram.unlink"),
    DELETE "/me/telegrams/{index}" => Some("telegram.unlink"),
    POST "/me/send_message/{user_id}/{session_index}" => Some("telegram.message.send"),
    POST "/me/send_media/{user_id}/{session_index}" => Some("telegram.media.send"),
    POST "/me/edit_message/{user_id}/{session_index}" => Some("telegram.message.edit"),
    POST "/me/delete_messages/{user_id}/{session_index}" => Some("telegram.message.delete"),
    POST "/me/forward_messages/{user_id}/{session_index}" => Some("telegram.message.forward"),
    POST "/me/pin_message/{user_id}/{session_index}" => Some("telegram.message.pin"),
    POST "/me/unpin_message/{user_id}/{session_index}" => Some("telegram.message.unpin"),
    POST "/me/unpin_all/{user_id}/{session_index}/{chat_id}" => Some("telegram.message.unpin_all"),
    POST "/me/create_group/{user_id}/{session_index}" => Some("telegram.group.create"),
    POST "/me/add_member/{user_id}/{session_index}/{chat_id}" => Some("telegram.group.add_member"),
    POST "/me/remove_member/{user_id}/{session_index}/{chat_id}" => Some("telegram.group.remove_member"),
    POST "/me/leave_chat/{user_id}/{session_index}/{chat_id}" => Some("telegram.group.leave"),
    POST "/me/set_admin/{user_id}/{session_index}/{chat_id}" => Some("telegram.group.set_admin"),
    POST "/me/edit_chat/{user_id}/{session_index}/{chat_id}" => Some("telegram.group.edit"),
    POST "/me/join_chat/{user_id}/{session_index}" => Some("telegram.group.join"),
    POST "/me/export_invite/{user_id}/{session_index}/{chat_id}" => Some("telegram.group.export_invite"),
    POST "/me/revoke_invite/{user_id}/{session_index}/{chat_id}" => Some("telegram.group.revoke_invite"),
    POST "/me/edit_invite/{user_id}/{session_index}/{chat_id}" => Some("telegram.group.edit_invite"),
    POST "/me/join_requests/{user_id}/{session_index}/{chat_id}" => Some("telegram.group.answer_join_request"),
    PUT "/me/chat_photo/{user_id}/{session_index}/{chat_id}" => Some("telegram.group.photo.set"),
    DELETE "/me/chat_photo/{user_id}/{session_index}/{chat_id}" => Some("telegram.group.photo.delete"),
    PUT "/me/profile/photo/{user_id}/{session_index}" => Some("telegram.profile.photo.set"),
    DELETE "/me/profile/photo/{user_id}/{session_index}" => Some("telegram.profile.photo.delete"),
    DELETE "/media/{file_id}" => Some("media.delete"),
    POST "/admin/users/{user_id}/disable" => Some("operator.user.disable"),
    POST "/admin/users/{user_id}/enable" => Some("operator.user.enable"),
    POST "/me/push/{user_id}" => Some("push.subscribe"),
    DELETE "/me/push/{user_id}" => Some("push.unsubscribe"),
    PATCH "/me/profile/{user_id}/{session_index}" => Some("telegram.profile.update"),
    POST "/me/contacts/{user_id}/{session_index}" => Some("telegram.contact.add"),
    DELETE "/me/contacts/{user_id}/{session_index}/{telegram_user_id}" => Some("telegram.contact.delete"),
];

/// Whether some rule audits requests of `method` (none audits a read).
fn is_audited_method(method: &Method) -> bool {
    RULES.iter().any(|rule| rule.method == *method)
}

fn rule_for(method: &Method, pattern: &str) -> Option<&'static Rule> {
    RULES
        .iter()
        .find(|rule| rule.method == *method && rule.pattern == pattern)
}

/// What a handler adds to its request's record.
#[derive(Debug, Default)]
pub struct AuditNote {
    /// The acting user (set by the authenticating extractors), or the account a failed
    /// sign-in named.
    pub user_id: Option<Uuid>,
    /// Whether `user_id` signed in (else it is the account a sign-in attempt named).
    pub authenticated: bool,
    /// Whether an operator acted (on `user_id`).
    pub operator: bool,
    /// A more precise action than the route's (or the only one, for rules without one).
    pub action: Option<&'static str>,
    /// What the action was done to: the path's parameters (but `user_id`), then what
    /// handlers add (`chat_id` from the body).
    pub target: Vec<(String, String)>,
}

tokio::task_local! {
    static NOTE: RefCell<AuditNote>;
}

/// Adds to the current request's record; nothing when the request is not audited.
pub fn note(change: impl FnOnce(&mut AuditNote)) {
    // Outside an audited request there is no note to change, and nothing to record.
    let _not_audited = NOTE.try_with(|note| change(&mut note.borrow_mut()));
}

/// Notes the signed-in caller (the extractors call this once the token is verified).
pub fn note_caller(user_id: Uuid) {
    note(|note| {
        note.user_id = Some(user_id);
        note.authenticated = true;
    });
}

/// Notes the path's parameters (but `user_id`, the log's owner) as the target. The
/// authenticating extractors call it: before routing, a middleware cannot see them.
pub fn note_path(request: &actix_web::HttpRequest) {
    // Outside an audited request there is no note: the parameters are not even copied.
    if NOTE.try_with(|_| ()).is_err() {
        return;
    }
    let parameters: Vec<(String, String)> = request
        .match_info()
        .iter()
        .filter(|(name, _)| *name != "user_id")
        .map(|(name, value)| (name.to_owned(), cut(value, 128)))
        .collect();
    if parameters.is_empty() {
        return;
    }
    note(|note| {
        note.target.splice(0..0, parameters);
    });
}

/// Messages to the writer.
enum Command {
    Append(Box<NewAuditEntry>),
    /// Answered once every record queued before it is stored (or logged).
    Flush(oneshot::Sender<()>),
}

/// The audit log's writer: cheap to share, one per gateway.
pub struct AuditLog {
    commands: mpsc::Sender<Command>,
}

/// The writer task, awaited at shutdown so queued records reach the store.
pub struct AuditWriter(tokio::task::JoinHandle<()>);

impl AuditWriter {
    /// Waits until every record queued before the last [`AuditLog`] handle went is
    /// stored, up to `limit`.
    pub async fn finish(self, limit: Duration) {
        if tokio::time::timeout(limit, self.0).await.is_err() {
            tracing::warn!("audit writer did not finish in time; its queue is lost");
        }
    }
}

impl AuditLog {
    /// Starts the writer over `store`, gathering each batch for `batch_window` after its
    /// first record, and the hourly retention sweep when `retention_days` is above zero
    /// (it ends with the writer).
    pub fn start(
        store: Arc<dyn AuditStore>,
        retention_days: u32,
        batch_window: Duration,
    ) -> (Arc<Self>, AuditWriter) {
        let (commands, receiver) = mpsc::channel(QUEUE);
        let writer = tokio::spawn(write_batches(
            Arc::clone(&store),
            receiver,
            retention_days,
            batch_window,
        ));
        (Arc::new(Self { commands }), AuditWriter(writer))
    }

    /// Queues `entry`; see the module docs for what happens when the queue is full.
    pub async fn record(&self, entry: NewAuditEntry) {
        let entry = Box::new(entry);
        let command = match self.commands.try_send(Command::Append(entry)) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(command)) => command,
            Err(mpsc::error::TrySendError::Closed(Command::Append(entry))) => {
                log_instead(&entry, "the audit writer has stopped");
                return;
            }
            Err(mpsc::error::TrySendError::Closed(Command::Flush(_))) => return,
        };
        metrics::counter!("talkapp_audit_queue_full_total").increment(1);
        if let Err(error) = self.commands.send_timeout(command, QUEUE_WAIT).await {
            let (mpsc::error::SendTimeoutError::Timeout(command)
            | mpsc::error::SendTimeoutError::Closed(command)) = error;
            if let Command::Append(entry) = command {
                log_instead(&entry, "the audit queue stayed full");
            }
        }
    }

    /// Waits until every record queued so far is stored (or logged).
    pub async fn flush(&self) {
        let (done, stored) = oneshot::channel();
        if self.commands.send(Command::Flush(done)).await.is_ok() {
            // A writer that stopped meanwhile has nothing left to store.
            let _writer_gone = stored.await;
        }
    }
}

async fn write_batches(
    store: Arc<dyn AuditStore>,
    mut commands: mpsc::Receiver<Command>,
    retention_days: u32,
    batch_window: Duration,
) {
    let mut sweep = tokio::time::interval(Duration::from_secs(3600));
    sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut batch: Vec<NewAuditEntry> = Vec::with_capacity(BATCH);
    let mut flushed: Vec<oneshot::Sender<()>> = Vec::new();
    let mut received: Vec<Command> = Vec::with_capacity(BATCH);
    loop {
        tokio::select! {
            count = commands.recv_many(&mut received, BATCH) => {
                if count == 0 {
                    break;
                }
                gather(&mut commands, &mut received, batch_window).await;
                for command in received.drain(..) {
                    match command {
                        Command::Append(entry) => batch.push(*entry),
                        Command::Flush(done) => flushed.push(done),
                    }
                }
                append(&*store, &mut batch).await;
                for done in flushed.drain(..) {
                    // The one waiting may have given up; nothing to tell then.
                    let _gone = done.send(());
                }
            }
            _ = sweep.tick(), if retention_days > 0 => {
                purge(&*store, retention_days).await;
            }
        }
    }
}

/// Adds to `received` what arrives within `window` of its first record (up to [`BATCH`]),
/// unless a flush is waiting already. While the writer sleeps here it is not waiting on
/// the queue, so the records sent meanwhile wake no one (ADR 0062): under load a batch
/// costs one wake-up of the writer and one store statement, not one per record.
async fn gather(
    commands: &mut mpsc::Receiver<Command>,
    received: &mut Vec<Command>,
    window: Duration,
) {
    let flush_waiting = received
        .iter()
        .any(|command| matches!(command, Command::Flush(_)));
    if window.is_zero() || flush_waiting || received.len() >= BATCH {
        return;
    }
    tokio::time::sleep(window).await;
    while received.len() < BATCH {
        match commands.try_recv() {
            Ok(command) => received.push(command),
            // Nothing more now, or every sender gone (the next receive says so).
            Err(_) => break,
        }
    }
}

async fn append(store: &dyn AuditStore, batch: &mut Vec<NewAuditEntry>) {
    if batch.is_empty() {
        return;
    }
    let started = tokio::time::Instant::now();
    let mut pause = Duration::from_millis(100);
    loop {
        match store.append_audit(batch).await {
            Ok(()) => {
                metrics::counter!("talkapp_audit_records_total").increment(batch.len() as u64);
                batch.clear();
                return;
            }
            Err(error) if started.elapsed() < STORE_PATIENCE => {
                tracing::warn!(%error, records = batch.len(), "audit records not stored yet; retrying");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
            Err(error) => {
                for entry in batch.drain(..) {
                    log_instead(&entry, &error.to_string());
                }
                return;
            }
        }
    }
}

async fn purge(store: &dyn AuditStore, retention_days: u32) {
    let cutoff = talkapp_store::now() - chrono::TimeDelta::days(i64::from(retention_days));
    match store.purge_audit(cutoff).await {
        Ok(0) => {}
        Ok(removed) => tracing::info!(removed, "audit records past retention removed"),
        Err(error) => tracing::warn!(%error, "audit retention sweep failed; next hour again"),
    }
}

/// Writes a record the store did not take to the process log, whole.
fn log_instead(entry: &NewAuditEntry, reason: &str) {
    metrics::counter!("talkapp_audit_logged_instead_total").increment(1);
    tracing::error!(
        target: "talkapp::audit",
        reason,
        at = %entry.at.to_rfc3339(),
        user_id = ?entry.user_id,
        actor = entry.actor.as_str(),
        action = %entry.action,
        target_ = ?entry.target,
        outcome = entry.outcome.as_str(),
        status = entry.status,
        error_code = ?entry.error_code,
        client_address = ?entry.client_address,
        user_agent = ?entry.user_agent,
        request_id = ?entry.request_id,
        trace_id = ?entry.trace_id,
        "audit record not stored"
    );
}

/// Records audited requests; see the module docs.
///
/// Which rule a request falls under is decided once it has been routed (ADR 0063): the
/// routed request's pattern is a walk along the matched resource's indices, where asking
/// before routing tried every route's pattern in turn (regular expressions), beside the
/// router's own walk. Every route with an audited method is a plain resource (no guard
/// sends its requests on to a later route), so the routed pattern is the one the path
/// matched first, as before: `routed_and_unrouted_patterns_agree_for_every_rule` keeps it so.
pub async fn record_actions(
    request: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let audit = request
        .app_data::<web::Data<AppState>>()
        .and_then(|state| state.audit.clone().map(|audit| (state.clone(), audit)));
    // Only changes are audited: a read is not noted nor matched against the rules at all.
    let Some((state, audit)) = audit.filter(|_| is_audited_method(request.method())) else {
        return next.call(request).await;
    };
    let method = request.method().clone();
    // Only for an `Err` from the layers inside, which hands no request back (none of
    // them makes one today: handlers' errors arrive as responses); a shared copy.
    let uri = request.uri().clone();
    let client_address = state.client_address(request.request());
    let user_agent = request
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .map(|value| cut(&String::from_utf8_lossy(value.as_bytes()), MAX_USER_AGENT));
    let request_id = request
        .extensions()
        .get::<RequestId>()
        .map(|id| id.0.clone());
    let span_context = tracing::Span::current().context();
    let span = span_context.span();
    let trace = span.span_context();
    let trace_id = trace.is_valid().then(|| trace.trace_id().to_string());

    let (result, note) = NOTE
        .scope(RefCell::new(AuditNote::default()), async {
            let result = next.call(request).await;
            (result, NOTE.with(|note| note.take()))
        })
        .await;

    // Routed by now: the pattern is a walk along the matched resource, no new match.
    let rule = match &result {
        Ok(response) => response
            .request()
            .match_pattern()
            .and_then(|pattern| rule_for(&method, &pattern)),
        Err(_) => rule_for_path(&method, uri.path()),
    };
    let Some(rule) = rule else {
        return result;
    };
    let Some(action) = note.action.or(rule.action) else {
        return result;
    };
    let (status, error_code) = match &result {
        Ok(response) => (
            response.status().as_u16(),
            response
                .response()
                .extensions()
                .get::<ErrorCodeTag>()
                .map(|tag| tag.0.as_str().to_owned()),
        ),
        Err(error) => (error.as_response_error().status_code().as_u16(), None),
    };
    // A request nobody could be tied to (no valid token, an unknown email) is recorded
    // only for sign-in and registration, where the attempt itself is what matters.
    if note.user_id.is_none() && !action.starts_with("auth.") {
        return result;
    }
    let mut target = serde_json::Map::new();
    for (name, value) in note.target {
        target.insert(name, serde_json::Value::String(value));
    }
    audit
        .record(NewAuditEntry {
            at: talkapp_store::now(),
            user_id: note.user_id,
            actor: if note.operator {
                AuditActor::Operator
            } else if note.authenticated {
                AuditActor::User
            } else {
                AuditActor::Anonymous
            },
            action: action.to_owned(),
            target: (!target.is_empty()).then(|| serde_json::Value::Object(target).to_string()),
            outcome: AuditOutcome::of_status(status),
            status,
            error_code,
            client_address: Some(client_address),
            user_agent,
            request_id,
            trace_id,
        })
        .await;
    result
}

/// The rule of a request that came back without its routing (an `Err` from inside): its
/// path matched against the rules' own patterns.
fn rule_for_path(method: &Method, path: &str) -> Option<&'static Rule> {
    static PATTERNS: std::sync::LazyLock<Vec<actix_web::dev::ResourceDef>> =
        std::sync::LazyLock::new(|| {
            RULES
                .iter()
                .map(|rule| actix_web::dev::ResourceDef::new(rule.pattern))
                .collect()
        });
    RULES
        .iter()
        .zip(PATTERNS.iter())
        .find(|(rule, pattern)| rule.method == *method && pattern.is_match(path))
        .map(|(rule, _)| rule)
}

/// `text` cut to at most `limit` bytes on a character boundary.
fn cut(text: &str, limit: usize) -> String {
    let mut end = text.len().min(limit);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_names_a_registered_route() {
        use utoipa::OpenApi as _;
        let document = crate::openapi::ApiDoc::openapi();
        let paths = &document.paths.paths;
        for rule in RULES {
            // `/auth/v1/logout` is GoTrue's and not in the document; the rest are.
            let known = paths.contains_key(rule.pattern) || rule.pattern == "/auth/v1/logout";
            assert!(known, "{} {} is not a route", rule.method, rule.pattern);
        }
    }

    /// Puts the request's pattern before routing (every route tried) and after it (the
    /// routed resource's) in the response's headers.
    async fn both_patterns(
        request: ServiceRequest,
        next: Next<impl MessageBody>,
    ) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
        use actix_web::http::header::{HeaderName, HeaderValue};
        let before = request.match_pattern().unwrap_or_default();
        let mut response = next.call(request).await?;
        let after = response.request().match_pattern().unwrap_or_default();
        for (name, pattern) in [("x-before", before), ("x-after", after)] {
            response.headers_mut().insert(
                HeaderName::from_static(name),
                HeaderValue::from_str(&pattern).expect("a pattern is a header value"),
            );
        }
        Ok(response)
    }

    /// The premise of deciding after routing (ADR 0063): for each rule, a request of its
    /// method on a path of its pattern is routed to the resource of that pattern, the
    /// first one its path matches, so the rule found is the one found before routing.
    #[actix_web::test]
    async fn routed_and_unrouted_patterns_agree_for_every_rule() {
        use actix_web::{App, test};
        let app = test::init_service(
            App::new()
                .configure(|config| crate::routes::configure(config, true))
                .default_service(web::to(actix_web::HttpResponse::NotFound))
                .wrap(actix_web::middleware::from_fn(both_patterns)),
        )
        .await;
        let user_id = Uuid::new_v4().to_string();
        for rule in RULES {
            let path = crate::routes::tests::path_of(rule.pattern, &user_id);
            let request = test::TestRequest::default()
                .method(rule.method.clone())
                .uri(&path)
                .to_request();
            let response = test::call_service(&app, request).await;
            let header = |name: &str| {
                response
                    .headers()
                    .get(name)
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_owned()
            };
            assert_eq!(
                (header("x-before"), header("x-after")),
                (rule.pattern.to_owned(), rule.pattern.to_owned()),
                "{} {path}",
                rule.method
            );
            assert_eq!(
                rule_for_path(&rule.method, &path).map(|found| found.pattern),
                Some(rule.pattern),
                "the rules' own patterns, for an `Err` from inside"
            );
        }
    }

    #[test]
    fn a_user_agent_is_cut_on_a_character_boundary() {
        assert_eq!(cut("ab", 256), "ab");
        assert_eq!(cut("añb", 2), "a");
        assert_eq!(cut("añb", 3), "añ");
    }

    #[test]
    fn outcomes_follow_the_status() {
        assert_eq!(AuditOutcome::of_status(202), AuditOutcome::Success);
        assert_eq!(AuditOutcome::of_status(403), AuditOutcome::Denied);
        assert_eq!(AuditOutcome::of_status(401), AuditOutcome::Denied);
        assert_eq!(AuditOutcome::of_status(422), AuditOutcome::Failure);
        assert_eq!(AuditOutcome::of_status(503), AuditOutcome::Failure);
    }
}
