//! The API's OpenAPI 3.1 document, derived from the handlers' `#[utoipa::path]` annotations and
//! the request and response types, so it changes with the code. Served at `GET /openapi.json`
//! and checked in as `backend/openapi.json`, which a test keeps equal to what this generates.

use axum::Json;
use axum::response::IntoResponse;
use utoipa::openapi::Required;
use utoipa::openapi::path::ParameterIn;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use crate::{health, metrics, routes};

#[derive(OpenApi)]
#[openapi(
    info(title = "EventFlow API"),
    paths(
        routes::events::ingest,
        routes::events::list,
        routes::stats::stats,
        routes::admin::create_api_key,
        routes::admin::delete_api_key,
        routes::admin::delete_events,
        health::handler,
        health::live,
        metrics::handler,
        handler,
    ),
    modifiers(&SecuritySchemes, &EmptyQueryParameters),
    tags(
        (name = "events", description = "Ingest events with an API key, read them back with a bearer token"),
        (name = "admin", description = "The deployment's `ADMIN_API_TOKEN` as a bearer token; off (404) where it is not configured"),
        (name = "operations", description = "Health, metrics and this document"),
    )
)]
struct ApiDoc;

/// `api_key` for ingestion, `bearer` (HS256 JWT) for reading, `admin_token` for the admin API.
struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-API-Key",
                "`efk_<16 hex lookup>_<43 base64url secret>`, from `POST /v1/admin/api-keys` or `eventflow-backend create-api-key`",
            ))),
        );
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .description(Some(
                        "HS256, signed with `JWT_SECRET`; claims `sub`, `iss` (`JWT_ISSUER`), `aud` (`JWT_AUDIENCE`), `exp` (at most `JWT_MAX_LIFETIME_SECS` away), optional `iat`, `nbf` and `role`",
                    ))
                    .build(),
            ),
        );
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "the deployment's `ADMIN_API_TOKEN`; without it configured the admin API answers 404",
                    ))
                    .build(),
            ),
        );
    }
}

/// The API reads an empty query parameter (`?name=`) as an absent one ([`routes::non_empty`]),
/// as forms send them: every optional one says so with `allowEmptyValue`, which utoipa has no
/// attribute for.
struct EmptyQueryParameters;

impl Modify for EmptyQueryParameters {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let parameters = openapi
            .paths
            .paths
            .values_mut()
            .flat_map(|item| {
                [
                    &mut item.get,
                    &mut item.post,
                    &mut item.put,
                    &mut item.patch,
                    &mut item.delete,
                ]
            })
            .flatten()
            .flat_map(|operation| operation.parameters.iter_mut().flatten());
        for parameter in parameters {
            if parameter.parameter_in == ParameterIn::Query && parameter.required == Required::False
            {
                parameter
                    .extensions
                    .get_or_insert_with(Default::default)
                    .insert("allowEmptyValue".to_owned(), true.into());
            }
        }
    }
}

/// The document.
pub fn document() -> utoipa::openapi::OpenApi {
    ApiDoc::openapi()
}

/// The document as the checked-in file holds it: pretty JSON and a final newline.
pub fn to_pretty_json() -> String {
    let mut json = document()
        .to_pretty_json()
        .expect("the OpenAPI document serializes");
    json.push('\n');
    json
}

/// This document.
#[utoipa::path(
    get,
    operation_id = "openapi",
    path = "/openapi.json",
    tag = "operations",
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub async fn handler() -> impl IntoResponse {
    Json(document())
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;
    use crate::auth::api_key;
    use crate::events::validate;
    use crate::routes::events::MAX_LIMIT;

    const CHECKED_IN: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi.json");

    fn document_json() -> Value {
        serde_json::to_value(document()).unwrap()
    }

    #[test]
    fn checked_in_document_is_current() {
        let checked_in = std::fs::read_to_string(CHECKED_IN).unwrap_or_default();
        assert!(
            checked_in == to_pretty_json(),
            "backend/openapi.json is not what the code generates: run `cargo run -p eventflow-backend -- openapi > backend/openapi.json` and commit it"
        );
    }

    #[test]
    fn limits_are_the_validators() {
        let doc = document_json();
        let schemas = &doc["components"]["schemas"];
        let event = &schemas["NewEvent"]["properties"];
        assert_eq!(event["name"]["maxLength"], validate::MAX_NAME_CHARS);
        assert_eq!(event["user_id"]["maxLength"], validate::MAX_USER_ID_CHARS);
        assert_eq!(
            schemas["EventBatch"]["properties"]["events"]["maxItems"],
            validate::MAX_BATCH
        );
        assert_eq!(
            schemas["NewApiKey"]["properties"]["name"]["maxLength"],
            api_key::MAX_NAME_CHARS
        );
        let limit = doc["paths"]["/v1/events"]["get"]["parameters"]
            .as_array()
            .unwrap()
            .iter()
            .find(|parameter| parameter["name"] == "limit")
            .unwrap();
        assert_eq!(limit["schema"]["maximum"], MAX_LIMIT);
    }

    /// The statuses every client must handle are documented wherever they can happen.
    #[test]
    fn every_operation_documents_its_failures() {
        let doc = document_json();
        for (path, operations) in doc["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                let documents = |status: &str| {
                    assert!(
                        responses.contains_key(status),
                        "{method} {path} does not document {status}"
                    );
                };
                if operation.get("security").is_some() {
                    documents("401");
                    documents("503");
                }
                if operation.get("requestBody").is_some() {
                    for status in ["400", "413", "415", "422"] {
                        documents(status);
                    }
                }
            }
        }
        let health = &doc["paths"]["/health"]["get"]["responses"];
        assert!(health.get("503").is_some());
    }
}
