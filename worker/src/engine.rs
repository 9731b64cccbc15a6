//! Application layer: [`Engine`], the whole engine as the API transport and the job workers use it. It is the
//! top of a stack of layer handles, each standing on the one below through `Deref`:
//! `Engine` → [`Intake`] → [`Domain`] → [`Chatbots`] → [`Acd`] → [`Store`]. A method defined on a layer can call
//! only that layer's methods and the ones below it, so the dependency rule (ARCHITECTURE.md) holds for calls as
//! well as for `use` lines; callers of the engine see every layer's methods.

use crate::acd::Acd;
use crate::chatbots::Chatbots;
use crate::domain::Domain;
use crate::intake::Intake;
use crate::store::Store;
use crate::{accounts, chatbots, crypto, db, jobs, live, net, provider};
use std::sync::Arc;

/// Everything a request or a job needs (cheap to clone: every part is shared).
#[derive(Clone)]
pub struct Engine {
    below: Intake,
}

impl Engine {
    pub fn new(
        mut db: sea_orm::DatabaseConnection,
        cipher: crypto::Cipher,
        public_base_url: &str,
    ) -> anyhow::Result<Self> {
        let statements = Arc::default();
        db::count_into(&mut db, Arc::clone(&statements));
        let store = Store {
            jobs: jobs::JobStore::from_db(&db),
            cipher: Arc::new(cipher),
            public_base_url: Arc::from(public_base_url.trim_end_matches('/')),
            provider: Arc::new(provider::NovaClient::new()?),
            wakeups: Arc::default(),
            live: Arc::new(live::Bus::new(db.clone(), live::LiveSettings::default())),
            url_policy: net::UrlPolicy::default(),
            statements,
            db,
        };
        let acd = Acd::new(store);
        let chatbots = Chatbots::new(acd, chatbots::delivery::http_client(net::UrlPolicy::default())?);
        Ok(Self { below: Intake::new(Domain::new(chatbots)) })
    }

    fn store_mut(&mut self) -> &mut Store {
        &mut self.below.below.below.below.below
    }

    /// The same engine with another URL policy, applied when URLs are saved and by a provider adapter rebuilt
    /// with it.
    pub fn with_url_policy(mut self, policy: net::UrlPolicy) -> anyhow::Result<Self> {
        let store = self.store_mut();
        store.url_policy = policy;
        store.provider = Arc::new(provider::NovaClient::with_policy(policy)?);
        self.below.below.below.chatbot_http = chatbots::delivery::http_client(policy)?;
        Ok(self)
    }

    /// The same engine with other sign-in settings (token lifetimes, login throttling).
    pub fn with_sign_in_settings(
        mut self,
        tokens: accounts::TokenSettings,
        login: accounts::throttle::LoginSettings,
    ) -> Self {
        self.below.below.tokens = tokens;
        self.below.below.login = Arc::new(login);
        self
    }

    /// The same engine with other live settings (retention, presence grace).
    pub fn with_live_settings(mut self, settings: live::LiveSettings) -> Self {
        let store = self.store_mut();
        store.live = Arc::new(live::Bus::new(store.db.clone(), settings));
        self
    }
}

impl std::ops::Deref for Engine {
    type Target = Intake;
    fn deref(&self) -> &Intake {
        &self.below
    }
}

/// Each layer's handle, for code that runs on one layer (a job's `run`).
macro_rules! as_layer {
    ($($t:ty),*) => {$(
        impl AsRef<$t> for Engine {
            fn as_ref(&self) -> &$t {
                self
            }
        }
    )*};
}
as_layer!(Store, Acd, Chatbots, Domain, Intake, Engine);
