//! The error responses every operation can give, added to the OpenAPI document where the
//! handlers' annotations leave them out (issue 16, finding 10: a fuzzer saw 401, 403,
//! 415, 400 `malformed_json` and 422 on routes that did not declare them).
//!
//! Rules, applied to each operation:
//! - any: 408 `request_timeout` (a body too slow) when it takes a body, 429
//!   (`rate_limited`, `too_many_connections`), 503 `service_unavailable`;
//! - bearer routes: 401 (`unauthenticated`, `token_expired`, `token_invalid`,
//!   `session_expired`); with `{user_id}` in the path, 403 `forbidden`;
//! - a JSON body: 400 `malformed_json`, 413 `payload_too_large`, 415
//!   `unsupported_media_type`, 422 `validation_failed`;
//! - parameters: 422 `validation_failed` (a value of the wrong form), 404 `not_found`
//!   (path parameters naming nothing).
//!
//! Responses an operation declares itself are kept as they are, so a handler's
//! annotation lists only what it says more about (a 403 with Telegram's reasons, a 404
//! naming what is missing); the errors of a call through a linked account to Telegram
//! are [`crate::routes::common::TelegramErrors`]. Operations tagged `supabase-auth`
//! answer GoTrue's JSON (`GoTrueErrorBody`), the rest problem+json.

use utoipa::Modify;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, Response, ResponseBuilder, Responses};

use crate::routes::common::problem_response;

/// Adds the error responses of the module docs.
pub struct CommonResponses;

fn error_response(description: &str, gotrue: bool) -> RefOr<Response> {
    if !gotrue {
        return problem_response(description);
    }
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("GoTrueErrorBody")))
                    .build(),
            )
            .build(),
    )
}

fn add(responses: &mut Responses, status: &str, description: &str, gotrue: bool) {
    responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| error_response(description, gotrue));
}

fn complete(operation: &mut Operation, path: &str) {
    let gotrue = operation
        .tags
        .as_ref()
        .is_some_and(|tags| tags.iter().any(|tag| tag == "supabase-auth"));
    let bearer = operation.security.as_ref().is_some_and(|requirements| {
        requirements.iter().any(|requirement| {
            serde_json::to_value(requirement)
                .ok()
                .and_then(|value| value.as_object().map(|map| map.contains_key("bearer")))
                .unwrap_or(false)
        })
    });
    let json_body = operation.request_body.as_ref().is_some_and(|body| {
        body.content
            .keys()
            .any(|content_type| content_type.contains("json"))
    });
    let parameters = operation.parameters.as_deref().unwrap_or_default();
    let has_parameters = !parameters.is_empty();
    let has_path_parameters = parameters
        .iter()
        .any(|parameter| parameter.parameter_in == ParameterIn::Path);
    let responses = &mut operation.responses;
    if bearer {
        add(
            responses,
            "401",
            "`unauthenticated`, `token_expired`, `token_invalid` or `session_expired`",
            gotrue,
        );
        if path.contains("{user_id}") {
            add(responses, "403", "`forbidden`: another user's path", gotrue);
        }
    }
    if json_body {
        add(
            responses,
            "400",
            "`malformed_json`: the body is not JSON",
            gotrue,
        );
        add(responses, "413", "`payload_too_large`", gotrue);
        add(
            responses,
            "415",
            "`unsupported_media_type`: the body must be application/json",
            gotrue,
        );
        add(
            responses,
            "408",
            "`request_timeout`: the body did not arrive in time",
            gotrue,
        );
    }
    if json_body || has_parameters {
        add(responses, "422", "`validation_failed`", gotrue);
    }
    if has_path_parameters {
        add(responses, "404", "`not_found`", gotrue);
    }
    add(
        responses,
        "429",
        "`rate_limited` (see Retry-After) or `too_many_connections`",
        gotrue,
    );
    add(
        responses,
        "503",
        "`service_unavailable`: a dependency is away; try again",
        gotrue,
    );
}

impl Modify for CommonResponses {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in &mut openapi.paths.paths {
            for operation in [
                item.get.as_mut(),
                item.put.as_mut(),
                item.post.as_mut(),
                item.delete.as_mut(),
                item.options.as_mut(),
                item.head.as_mut(),
                item.patch.as_mut(),
                item.trace.as_mut(),
            ]
            .into_iter()
            .flatten()
            {
                complete(operation, path);
            }
        }
    }
}
