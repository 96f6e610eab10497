//! HTTP routes, one module per area and one file per handler where they grow.

pub mod admin;
pub mod audit;
pub mod auth;
pub mod chat_info;
pub mod chat_members;
pub mod chats;
pub mod common;
pub mod compat;
pub mod contact_list;
pub mod docs;
pub mod groups;
pub mod health;
pub mod joins;
pub mod linking;
pub mod media;
pub mod message_actions;
pub mod profiles;
pub mod push;
pub mod search;
pub mod send_media;
pub mod sessions;
pub mod uploads;
pub mod ws;
// Appended (own profile and contact changes), kept apart from the list above.
pub mod contact_changes;
pub mod own_profile;
pub mod people_search;
pub mod photos;
// Appended (managing invite links and join requests).
pub mod invites;

use actix_web::web;

/// Registers every route.
pub fn configure(config: &mut web::ServiceConfig, builtin_accounts: bool) {
    // actix tries the routes in registration order, a regular expression for each route
    // with a parameter, so the busiest routes come first (ADR 0064): `/auth/me`, then the
    // reads and the send of split mode's benchmarks. Each shares no path with any route it
    // now precedes (its literal segments differ from theirs, or its segment count does),
    // so every request is routed as before; `tests::every_documented_route_is_routed_to_itself`
    // checks that no route hides another.
    config
        .service(web::resource("/auth/me").get(auth::me::me))
        .service(
            web::resource("/me/sessions/{user_id}")
                .get(sessions::list_sessions)
                .post(linking::start_login),
        )
        .service(
            web::resource("/me/chat/messages/{user_id}/{session_index}/{chat_id}")
                .get(chats::history),
        )
        .service(
            web::resource("/me/send_message/{user_id}/{session_index}").post(chats::send_message),
        );
    // TorexTalkWeb compatibility next: `/me/chats/{chat_id}/messages` must win over
    // `/me/chats/{user_id}/{session_index}`, which follows it at once (the chat list).
    compat::configure(config);
    config.service(web::resource("/me/chats/{user_id}/{session_index}").get(chats::list_chats));
    // `web::resource` answers 405 for a known path with an unserved method.
    config
        .service(web::resource("/healthz").get(health::healthz))
        .service(web::resource("/readyz").get(health::readyz))
        .service(web::resource("/metrics").get(health::metrics))
        .service(web::resource("/openapi.json").get(docs::openapi_json))
        .service(web::resource("/docs").get(docs::docs_page))
        // Swagger UI ("try it out"), its files from the binary: works offline.
        .service(docs::swagger_ui())
        .service(web::resource("/auth/logout").post(auth::logout::logout))
        .service(web::resource("/me/audit/{user_id}").get(audit::own_audit_log))
        .service(web::resource("/admin/audit").get(admin::audit))
        .service(web::resource("/admin/users").get(admin::users))
        .service(web::resource("/admin/subjects").get(admin::subjects))
        .service(web::resource("/admin/users/{user_id}").get(admin::user))
        .service(web::resource("/admin/users/{user_id}/activity").get(admin::activity))
        .service(web::resource("/admin/users/{user_id}/disable").post(admin::disable))
        .service(web::resource("/admin/users/{user_id}/enable").post(admin::enable))
        .service(
            web::resource("/me/sessions/{user_id}/login/{login_id}/code")
                .post(linking::submit_code),
        )
        .service(
            web::resource("/me/sessions/{user_id}/login/{login_id}/password")
                .post(linking::submit_password),
        )
        .service(web::resource("/me/sessions/{user_id}/{session_index}").delete(linking::unlink))
        .service(
            web::resource("/me/chat/{user_id}/{session_index}/{chat_id}").get(chats::chat_details),
        )
        .service(
            web::resource("/me/send_media/{user_id}/{session_index}").post(send_media::send_media),
        )
        .service(
            web::resource("/me/edit_message/{user_id}/{session_index}")
                .post(message_actions::edit_message),
        )
        .service(
            web::resource("/me/delete_messages/{user_id}/{session_index}")
                .post(message_actions::delete_messages),
        )
        .service(
            web::resource("/me/user_profile/{user_id}/{session_index}/{telegram_user_id}")
                .get(profiles::user_profile),
        )
        .service(
            web::resource("/me/forward_messages/{user_id}/{session_index}")
                .post(message_actions::forward_messages),
        )
        .service(
            web::resource("/me/mark_read/{user_id}/{session_index}/{chat_id}")
                .post(message_actions::mark_read),
        )
        .service(
            web::resource("/me/pin_message/{user_id}/{session_index}")
                .post(message_actions::pin_message),
        )
        .service(
            web::resource("/me/unpin_message/{user_id}/{session_index}")
                .post(message_actions::unpin_message),
        )
        .service(
            web::resource("/me/unpin_all/{user_id}/{session_index}/{chat_id}")
                .post(message_actions::unpin_all),
        )
        .service(
            web::resource("/me/create_group/{user_id}/{session_index}").post(groups::create_group),
        )
        .service(
            web::resource("/me/add_member/{user_id}/{session_index}/{chat_id}")
                .post(groups::add_member),
        )
        .service(
            web::resource("/me/remove_member/{user_id}/{session_index}/{chat_id}")
                .post(chat_members::remove_member),
        )
        .service(
            web::resource("/me/leave_chat/{user_id}/{session_index}/{chat_id}")
                .post(chat_members::leave_chat),
        )
        .service(
            web::resource("/me/set_admin/{user_id}/{session_index}/{chat_id}")
                .post(chat_members::set_admin),
        )
        .service(
            web::resource("/me/edit_chat/{user_id}/{session_index}/{chat_id}")
                .post(chat_info::edit_chat),
        )
        .service(web::resource("/me/join_chat/{user_id}/{session_index}").post(joins::join_chat))
        .service(
            web::resource("/me/check_invite/{user_id}/{session_index}").get(joins::check_invite),
        )
        .service(
            web::resource("/me/export_invite/{user_id}/{session_index}/{chat_id}")
                .post(joins::export_invite),
        )
        .service(
            web::resource("/me/invites/{user_id}/{session_index}/{chat_id}")
                .get(invites::list_invites),
        )
        .service(
            web::resource("/me/revoke_invite/{user_id}/{session_index}/{chat_id}")
                .post(invites::revoke_invite),
        )
        .service(
            web::resource("/me/edit_invite/{user_id}/{session_index}/{chat_id}")
                .post(invites::edit_invite),
        )
        .service(
            web::resource("/me/join_requests/{user_id}/{session_index}/{chat_id}")
                .get(invites::list_join_requests)
                .post(invites::answer_join_request),
        )
        .service(
            web::resource("/me/chat_photo/{user_id}/{session_index}/{chat_id}")
                .put(photos::set_chat_photo)
                .delete(photos::delete_chat_photo),
        )
        .service(
            web::resource("/me/profile/photo/{user_id}/{session_index}")
                .put(photos::set_own_photo)
                .delete(photos::delete_own_photo),
        )
        .service(
            web::resource("/me/message_status/{user_id}/{session_index}/{job_id}")
                .get(chats::message_status),
        )
        .service(
            web::resource("/me/media/{user_id}/{session_index}/{media_ref}").get(media::download),
        )
        .service(
            web::resource("/me/media/{user_id}/{session_index}/{media_ref}/url")
                .post(media::signed_url),
        )
        // A signed link is only a GET whose token is not one of the uploaded files' route
        // names: `POST /media/t/url` and `GET /media/t/preview` (a file named `t`) fall
        // through to the upload routes (their 404), not this route's 405 or 403.
        .service(
            web::resource("/media/t/{token}")
                .guard(actix_web::guard::Get())
                .guard(actix_web::guard::fn_guard(|context| {
                    let path = context.head().uri.path();
                    !(path.ends_with("/url") || path.ends_with("/preview"))
                }))
                .get(media::by_link),
        )
        // Uploaded files (after `/media/t/{token}`, which must win for GET).
        .service(web::resource("/upload").post(uploads::upload))
        .service(
            web::resource("/media/{file_id}")
                .get(uploads::download)
                .route(web::head().to(uploads::head))
                .delete(uploads::delete),
        )
        .service(web::resource("/media/{file_id}/preview").get(uploads::preview))
        .service(web::resource("/media/{file_id}/url").post(uploads::signed_url))
        .service(web::resource("/ws/ticket").post(ws::ticket))
        .service(web::resource("/ws/{user_id}/{session_index}").get(ws::connect))
        .service(
            web::resource("/me/push/{user_id}")
                .post(push::subscribe)
                .delete(push::unsubscribe),
        )
        .service(web::resource("/push/vapid_public_key").get(push::vapid_public_key))
        .service(
            web::resource("/me/search/chats/{user_id}/{session_index}").get(search::search_chats),
        )
        .service(
            web::resource("/me/search/messages/{user_id}/{session_index}")
                .get(search::search_messages),
        )
        .service(web::resource("/me/search/messages/{user_id}").get(search::search_all_messages))
        .service(
            web::resource("/me/contacts/{user_id}/{session_index}")
                .get(contact_list::contacts)
                .post(contact_changes::add_contact),
        )
        .service(
            web::resource("/me/contacts/{user_id}/{session_index}/{telegram_user_id}")
                .delete(contact_changes::delete_contact),
        )
        .service(
            web::resource("/me/profile/{user_id}/{session_index}")
                .get(own_profile::own_profile)
                .patch(own_profile::update_own_profile),
        )
        .service(
            web::resource("/me/search/people/{user_id}/{session_index}")
                .get(people_search::search_people),
        );
    if builtin_accounts {
        config
            .service(web::resource("/auth/register").post(auth::register::register))
            .service(web::resource("/auth/login").post(auth::login::login))
            .service(web::resource("/auth/refresh").post(auth::refresh::refresh));
        // Supabase Auth (GoTrue) compatible, for supabase-js pointed at the gateway.
        config.service(auth::gotrue::scope());
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use actix_web::body::MessageBody;
    use actix_web::dev::{ServiceRequest, ServiceResponse};
    use actix_web::http::Method;
    use actix_web::http::header::{HeaderName, HeaderValue};
    use actix_web::middleware::{Next, from_fn};
    use actix_web::{App, HttpResponse, test, web};
    use utoipa::OpenApi as _;

    /// Puts the routed request's pattern in the response's `x-routed` header.
    async fn routed_pattern(
        request: ServiceRequest,
        next: Next<impl MessageBody>,
    ) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
        let mut response = next.call(request).await?;
        let pattern = response.request().match_pattern().unwrap_or_default();
        response.headers_mut().insert(
            HeaderName::from_static("x-routed"),
            HeaderValue::from_str(&pattern).expect("a pattern is a header value"),
        );
        Ok(response)
    }

    /// A path of `pattern`: `user_id` for `{user_id}`, `1` for every other parameter.
    pub(crate) fn path_of(pattern: &str, user_id: &str) -> String {
        pattern
            .split('/')
            .map(|segment| match segment {
                "{user_id}" => user_id,
                segment if segment.starts_with('{') => "1",
                segment => segment,
            })
            .collect::<Vec<_>>()
            .join("/")
    }

    /// Every documented operation, on a path of its own pattern, reaches its own route:
    /// no route registered before it (the busiest first, ADR 0064) takes its requests.
    #[actix_web::test]
    async fn every_documented_route_is_routed_to_itself() {
        let app = test::init_service(
            App::new()
                .configure(|config| super::configure(config, true))
                .default_service(web::to(HttpResponse::NotFound))
                .wrap(from_fn(routed_pattern)),
        )
        .await;
        let user_id = uuid::Uuid::new_v4().to_string();
        let document = crate::openapi::ApiDoc::openapi();
        let mut checked = 0;
        for (pattern, item) in &document.paths.paths {
            let path = path_of(pattern, &user_id);
            let operations = [
                (Method::GET, item.get.is_some()),
                (Method::POST, item.post.is_some()),
                (Method::PUT, item.put.is_some()),
                (Method::PATCH, item.patch.is_some()),
                (Method::DELETE, item.delete.is_some()),
            ];
            for (method, documented) in operations {
                if !documented {
                    continue;
                }
                let request = test::TestRequest::default()
                    .method(method.clone())
                    .uri(&path)
                    .to_request();
                let response = test::call_service(&app, request).await;
                let routed = response
                    .headers()
                    .get("x-routed")
                    .and_then(|value| value.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                assert_eq!(&routed, pattern, "{method} {path}");
                checked += 1;
            }
        }
        assert!(checked > 60, "only {checked} operations checked");
    }
}
