//! Domain layer handle: [`Domain`] serves accounts and sign-in, channels, phone numbers and conversations. It
//! stands on the chatbots layer (and, through it, on the ACD and storage) and adds what only this layer uses.

use crate::accounts::{TokenSettings, throttle::LoginSettings};
use crate::chatbots::Chatbots;
use crate::phone_numbers::WebhookNumbers;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

#[derive(Clone)]
pub struct Domain {
    pub(crate) below: Chatbots,
    /// Sign-in token lifetimes.
    pub tokens: TokenSettings,
    /// Login throttling settings (trusted networks and proxies).
    pub login: Arc<LoginSettings>,
    /// Password hashes computed to check a sign-in (a throttled attempt computes none).
    pub password_checks: Arc<AtomicU64>,
    /// The numbers of recently seen webhook tokens (forgotten at once by a change made through this process).
    pub webhook_numbers: Arc<WebhookNumbers>,
}

impl Domain {
    pub(crate) fn new(below: Chatbots) -> Self {
        Self {
            below,
            tokens: TokenSettings::default(),
            login: Arc::default(),
            password_checks: Arc::default(),
            webhook_numbers: Arc::default(),
        }
    }
}

impl std::ops::Deref for Domain {
    type Target = Chatbots;
    fn deref(&self) -> &Chatbots {
        &self.below
    }
}
