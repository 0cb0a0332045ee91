//! The environment's deploy-state table in the emulator, as infrastructure/modules/deploy-state
//! creates it: `pk` (hash) and `sk` (range) strings, pay per request. Helpers to read the lease
//! and the ledger straight from DynamoDB, not through the engine.

use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType,
};
use xtask_deploy::config::Config;

use crate::support::sdk_config;

pub async fn client() -> aws_sdk_dynamodb::Client {
    aws_sdk_dynamodb::Client::new(&sdk_config().await)
}

/// Creates `config`'s deploy-state table.
pub async fn create(config: &Config) {
    let attribute = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    let key = |name: &str, kind| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(kind)
            .build()
            .unwrap()
    };
    client()
        .await
        .create_table()
        .table_name(config.state_table())
        .attribute_definitions(attribute("pk"))
        .attribute_definitions(attribute("sk"))
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
}

/// The lease's holder (its JSON), if any run holds `config`'s environment.
pub async fn lease(config: &Config) -> Option<serde_json::Value> {
    let out = client()
        .await
        .get_item()
        .table_name(config.state_table())
        .key("pk", AttributeValue::S(config.environment.clone()))
        .key("sk", AttributeValue::S("lock".to_owned()))
        .consistent_read(true)
        .send()
        .await
        .unwrap();
    out.item()
        .and_then(|i| i.get("body"))
        .and_then(|b| b.as_s().ok())
        .map(|b| serde_json::from_str(b).unwrap())
}
