//! The channel form and its validation, shared by review, create and update so the three can never disagree.

use crate::domain::Domain;
use crate::validate;
use crate::{Error, FieldError, Result, actor::Actor};
use entity::{ConversationType, Provider, Role, channel, chatbot, user};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

pub const NAME_MAX: usize = 100;
pub const WRAP_UP_CODE_MAX: usize = 100;
pub const WRAP_UP_CODES_MAX: usize = 200;
pub const AGENTS_MAX: usize = 1000;
pub const ALERTING_TIMEOUT_MIN: i32 = 5;
pub const TIMEOUT_MAX: i32 = 86_400;
pub const AUTO_ASSIGNMENT_LIMIT_MAX: i32 = 1000;
/// A chatbot's time to answer or hand off after a client's message: the default, and the shortest allowed.
pub const CHATBOT_TIMEOUT_DEFAULT: i32 = 60;
pub const CHATBOT_TIMEOUT_MIN: i32 = 5;

/// The whole channel form, as the admin screen sends it.
#[derive(Debug, Clone)]
pub struct ChannelForm {
    pub settings: SettingsForm,
    pub wrap_up_codes: Vec<String>,
    pub agent_ids: Vec<String>,
}

/// The channel's own settings (everything but its codes and agents).
#[derive(Debug, Clone)]
pub struct SettingsForm {
    pub name: String,
    pub chatbot_id: Option<String>,
    pub conversation_type: ConversationType,
    pub can_write_first: bool,
    pub provider: Provider,
    pub api_url: String,
    pub utilization: i32,
    pub auto_assignment_limit: i32,
    pub auto_answer: bool,
    pub alerting_timeout: Option<i32>,
    pub wrap_up_timeout: Option<i32>,
    pub chatbot_timeout: i32,
}

/// A partial update: `None` leaves a field as it is; `Some(None)` clears an optional one.
#[derive(Debug, Clone, Default)]
pub struct ChannelPatch {
    pub name: Option<String>,
    pub chatbot_id: Option<Option<String>>,
    pub conversation_type: Option<ConversationType>,
    pub can_write_first: Option<bool>,
    pub provider: Option<Provider>,
    pub api_url: Option<String>,
    pub utilization: Option<i32>,
    pub auto_assignment_limit: Option<i32>,
    pub auto_answer: Option<bool>,
    pub alerting_timeout: Option<Option<i32>>,
    pub wrap_up_timeout: Option<Option<i32>>,
    pub chatbot_timeout: Option<i32>,
}

/// Validated settings, ready to be written: the form with trimmed values, and the chatbot it names.
#[derive(Debug, Clone)]
pub struct Settings {
    pub values: SettingsForm,
    pub chatbot: Option<chatbot::Model>,
}

impl Settings {
    /// Writes the settings onto a channel row (new or existing): the one mapping create and update share.
    pub fn apply_to(self, am: &mut channel::ActiveModel) {
        let v = self.values;
        am.name_key = Set(validate::name_key(&v.name));
        am.name = Set(v.name);
        am.chatbot_id = Set(self.chatbot.map(|c| c.id));
        am.conversation_type = Set(v.conversation_type);
        am.can_write_first = Set(v.can_write_first);
        am.provider = Set(v.provider);
        am.api_url = Set(v.api_url);
        am.utilization = Set(v.utilization);
        am.auto_assignment_limit = Set(v.auto_assignment_limit);
        am.auto_answer = Set(v.auto_answer);
        am.alerting_timeout = Set(v.alerting_timeout);
        am.wrap_up_timeout = Set(v.wrap_up_timeout);
        am.chatbot_timeout = Set(v.chatbot_timeout);
    }
}

/// What creating the form would produce: validated settings, code names and agents.
#[derive(Debug, Clone)]
pub struct ChannelPlan {
    pub settings: Settings,
    pub wrap_up_codes: Vec<String>,
    pub agents: Vec<user::Model>,
}

impl SettingsForm {
    /// The form a stored channel corresponds to, so an update can be validated as a whole.
    pub fn from_model(c: &channel::Model) -> Self {
        Self {
            name: c.name.clone(),
            chatbot_id: c.chatbot_id.map(|id| id.to_string()),
            conversation_type: c.conversation_type,
            can_write_first: c.can_write_first,
            provider: c.provider,
            api_url: c.api_url.clone(),
            utilization: c.utilization,
            auto_assignment_limit: c.auto_assignment_limit,
            auto_answer: c.auto_answer,
            alerting_timeout: c.alerting_timeout,
            wrap_up_timeout: c.wrap_up_timeout,
            chatbot_timeout: c.chatbot_timeout,
        }
    }

    /// Applies a patch. Switching `autoAnswer` on without mentioning `alertingTimeout` clears the timeout, which
    /// means nothing with auto answer.
    pub fn apply(mut self, p: ChannelPatch) -> Self {
        if p.auto_answer == Some(true) && p.alerting_timeout.is_none() {
            self.alerting_timeout = None;
        }
        macro_rules! set {
            ($($f:ident),*) => { $( if let Some(v) = p.$f { self.$f = v; } )* };
        }
        set!(
            name,
            chatbot_id,
            conversation_type,
            can_write_first,
            provider,
            api_url,
            utilization,
            auto_assignment_limit,
            auto_answer,
            alerting_timeout,
            wrap_up_timeout,
            chatbot_timeout
        );
        self
    }

    /// The rules that need no database.
    fn check(&self, errors: &mut Vec<FieldError>) -> (String, String) {
        let name = validate::name("name", &self.name, NAME_MAX, errors);
        let api_url = validate::http_url("apiUrl", &self.api_url, errors);
        validate::range("utilization", self.utilization, 0, 100, errors);
        validate::range("autoAssignmentLimit", self.auto_assignment_limit, 1, AUTO_ASSIGNMENT_LIMIT_MAX, errors);
        match (self.auto_answer, self.alerting_timeout) {
            (true, Some(_)) => errors.push(FieldError::new(
                "alertingTimeout",
                "NOT_ALLOWED",
                "is only accepted when autoAnswer is false",
            )),
            (false, None) => {
                errors.push(FieldError::new("alertingTimeout", "REQUIRED", "is required when autoAnswer is false"))
            }
            (false, Some(t)) => validate::range("alertingTimeout", t, ALERTING_TIMEOUT_MIN, TIMEOUT_MAX, errors),
            (true, None) => {}
        }
        if let Some(t) = self.wrap_up_timeout {
            validate::range("wrapUpTimeout", t, 1, TIMEOUT_MAX, errors);
        }
        validate::range("chatbotTimeout", self.chatbot_timeout, CHATBOT_TIMEOUT_MIN, TIMEOUT_MAX, errors);
        (name, api_url)
    }
}

/// Code names: required, at most 100 characters, unique (case-insensitive) within the list.
pub fn check_code_names(names: &[String], errors: &mut Vec<FieldError>) -> Vec<String> {
    if names.len() > WRAP_UP_CODES_MAX {
        errors.push(FieldError::new("wrapUpCodes", "TOO_MANY", format!("at most {WRAP_UP_CODES_MAX} codes")));
    }
    let mut seen = HashSet::new();
    names
        .iter()
        .enumerate()
        .map(|(i, raw)| {
            let field = format!("wrapUpCodes[{i}]");
            let before = errors.len();
            let n = validate::name(&field, raw, WRAP_UP_CODE_MAX, errors);
            if errors.len() == before && !seen.insert(validate::name_key(&n)) {
                errors.push(FieldError::new(field, "DUPLICATE", "is already in the list"));
            }
            n
        })
        .collect()
}

impl Domain {
    /// Validates settings against the rules and the account's data. `current` is the channel being updated.
    pub async fn check_settings(
        &self,
        actor: &Actor,
        form: &SettingsForm,
        current: Option<Uuid>,
        errors: &mut Vec<FieldError>,
    ) -> Result<Option<Settings>> {
        let (name, api_url) = form.check(errors);
        if !errors.iter().any(|e| e.field == "apiUrl")
            && let Err(e) = self.url_policy.check_at_save("apiUrl", &api_url).await
        {
            errors.push(e);
        }
        if !name.is_empty() && !errors.iter().any(|e| e.field == "name") {
            let mut q = channel::Entity::find()
                .filter(channel::Column::AccountId.eq(actor.account_id))
                .filter(channel::Column::NameKey.eq(validate::name_key(&name)))
                .filter(channel::Column::DeletedAt.is_null());
            if let Some(id) = current {
                q = q.filter(channel::Column::Id.ne(id));
            }
            if q.one(&self.db).await?.is_some() {
                errors.push(name_taken());
            }
        }
        let mut chatbot = None;
        if let Some(raw) = &form.chatbot_id
            && let Some(id) = validate::id("chatbotId", raw, "chatbot", errors)
        {
            chatbot = chatbot::Entity::find_by_id(id)
                .filter(chatbot::Column::AccountId.eq(actor.account_id))
                .one(&self.db)
                .await?;
            if chatbot.is_none() {
                errors.push(validate::not_found("chatbotId", "chatbot"));
            }
        }
        if !errors.is_empty() {
            return Ok(None);
        }
        let chatbot_id = chatbot.as_ref().map(|c| c.id.to_string());
        Ok(Some(Settings { values: SettingsForm { name, api_url, chatbot_id, ..form.clone() }, chatbot }))
    }

    /// Agents: users of the account, active, with role AGENT or SUPERVISOR, each listed once. `field` is the
    /// path prefix of the errors (`agentIds` in the form, `userId` for a single add).
    pub async fn check_agents(
        &self,
        actor: &Actor,
        raw_ids: &[String],
        field: &str,
        indexed: bool,
        errors: &mut Vec<FieldError>,
    ) -> Result<Vec<user::Model>> {
        if raw_ids.len() > AGENTS_MAX {
            errors.push(FieldError::new(field, "TOO_MANY", format!("at most {AGENTS_MAX} agents")));
            return Ok(vec![]);
        }
        let path = |i: usize| {
            if indexed { format!("{field}[{i}]") } else { field.to_owned() }
        };
        let ids: Vec<Option<Uuid>> =
            raw_ids.iter().enumerate().map(|(i, r)| validate::id(&path(i), r, "user", errors)).collect();
        let wanted: Vec<Uuid> = ids.iter().flatten().copied().collect();
        let found: HashMap<Uuid, user::Model> = if wanted.is_empty() {
            HashMap::new()
        } else {
            user::Entity::find()
                .filter(user::Column::AccountId.eq(actor.account_id))
                .filter(user::Column::Id.is_in(wanted))
                .all(&self.db)
                .await?
                .into_iter()
                .map(|u| (u.id, u))
                .collect()
        };
        let mut seen = HashSet::new();
        let mut agents = Vec::new();
        for (i, id) in ids.into_iter().enumerate() {
            let Some(id) = id else { continue };
            match found.get(&id) {
                None => errors.push(validate::not_found(&path(i), "user")),
                Some(u) if u.role == Role::Admin => errors.push(FieldError::new(
                    path(i),
                    "INVALID_ROLE",
                    "only users with role AGENT or SUPERVISOR can receive conversations",
                )),
                Some(u) if !u.active => errors.push(FieldError::new(path(i), "INACTIVE", "this user is deactivated")),
                Some(_) if !seen.insert(id) => {
                    errors.push(FieldError::new(path(i), "DUPLICATE", "is already in the list"))
                }
                Some(u) => agents.push(u.clone()),
            }
        }
        Ok(agents)
    }

    /// Validates the whole form and returns what would be created, or every error found. Writes nothing.
    pub async fn plan_channel(&self, actor: &Actor, form: &ChannelForm) -> Result<ChannelPlan> {
        actor.require_admin()?;
        let mut errors = Vec::new();
        let settings = self.check_settings(actor, &form.settings, None, &mut errors).await?;
        let wrap_up_codes = check_code_names(&form.wrap_up_codes, &mut errors);
        let agents = self.check_agents(actor, &form.agent_ids, "agentIds", true, &mut errors).await?;
        match settings {
            Some(settings) if errors.is_empty() => Ok(ChannelPlan { settings, wrap_up_codes, agents }),
            _ => Err(Error::Invalid(in_form_order(errors))),
        }
    }
}

/// The form's field order, in which errors are reported.
const FIELD_ORDER: [&str; 13] = [
    "name",
    "chatbotId",
    "conversationType",
    "canWriteFirst",
    "provider",
    "apiUrl",
    "utilization",
    "autoAssignmentLimit",
    "autoAnswer",
    "alertingTimeout",
    "wrapUpTimeout",
    "wrapUpCodes",
    "agentIds",
];

/// Puts errors in form order (stable within a field), so a form can show them top to bottom.
pub fn in_form_order(mut errors: Vec<FieldError>) -> Vec<FieldError> {
    let rank = |f: &str| {
        let base = f.split('[').next().unwrap_or(f);
        FIELD_ORDER.iter().position(|x| *x == base).unwrap_or(FIELD_ORDER.len())
    };
    errors.sort_by_key(|e| rank(&e.field));
    errors
}

pub fn name_taken() -> FieldError {
    FieldError::new("name", "TAKEN", "another channel of this account already has this name")
}
