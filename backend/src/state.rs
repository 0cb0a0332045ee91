//! What every handler shares. Each field is a cheap handle, so cloning per request is free.

use std::sync::Arc;

use sqlx::PgPool;

use crate::config::{Limits, Secret, ServeConfig, TokenPolicy};
use crate::metrics::Metrics;
use crate::rate_limit::ApiKeyRateLimiter;

#[derive(Clone)]
pub struct AppState {
    pub pool: PgPool,
    pub jwt_secret: Secret,
    pub api_keys_secret: Secret,
    pub metrics: Arc<Metrics>,
    pub limits: Arc<Limits>,
    pub tokens: Arc<TokenPolicy>,
    /// `None`: the admin API is off.
    pub admin_token: Option<Secret>,
    pub rate_limiter: Arc<ApiKeyRateLimiter>,
}

impl AppState {
    /// The state with every limit and the token policy at their defaults, the admin API off.
    pub fn new(pool: PgPool, jwt_secret: Secret, api_keys_secret: Secret) -> Self {
        let limits = Limits::default();
        Self {
            pool,
            jwt_secret,
            api_keys_secret,
            metrics: Arc::new(Metrics::new()),
            rate_limiter: Arc::new(ApiKeyRateLimiter::new(
                limits.api_key_rate_per_second,
                limits.api_key_rate_burst,
            )),
            limits: Arc::new(limits),
            tokens: Arc::new(TokenPolicy::default()),
            admin_token: None,
        }
    }

    /// The state `serve` runs with.
    pub fn from_config(pool: PgPool, config: &ServeConfig) -> Self {
        Self::new(
            pool,
            config.jwt_secret.clone(),
            config.api_keys_secret.clone(),
        )
        .with_limits(config.limits.clone())
        .with_tokens(config.tokens.clone())
        .with_admin_token(config.admin_token.clone())
    }

    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.rate_limiter = Arc::new(ApiKeyRateLimiter::new(
            limits.api_key_rate_per_second,
            limits.api_key_rate_burst,
        ));
        self.limits = Arc::new(limits);
        self
    }

    pub fn with_tokens(mut self, tokens: TokenPolicy) -> Self {
        self.tokens = Arc::new(tokens);
        self
    }

    pub fn with_admin_token(mut self, admin_token: Option<Secret>) -> Self {
        self.admin_token = admin_token;
        self
    }
}
