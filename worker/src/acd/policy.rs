//! The selection policy, as a pure function: which waiting conversation goes to which agent. No database here;
//! `distribute` loads the inputs under the account's lock and applies the plan.
//!
//! Rules (domain "ACD: automatic distribution"): conversations in queue order (earliest `enqueued_at` first); an
//! agent is eligible when they are on the channel's agent list, ONLINE (only ONLINE agents are given), their
//! utilization plus the channel's cost is at most 100, they hold fewer than the channel's limit of its
//! conversations, and they are not excluded from this conversation; among the eligible, the lowest utilization,
//! then the one idle longest (earliest last accepted assignment; never assigned first), then the lowest id. A
//! conversation nobody can take is skipped (no head-of-line blocking); one that every agent of its channel has
//! excluded gets its exclusions cleared and is offered round again.

use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};
use uuid::Uuid;

/// The most any agent carries through automatic distribution.
pub const FULL: i32 = 100;

/// An ONLINE agent and what they hold now (everything assigned, whatever its origin).
#[derive(Debug, Clone)]
pub struct AgentLoad {
    pub user_id: Uuid,
    pub utilization: i32,
    /// Conversations held per channel.
    pub held: HashMap<Uuid, i32>,
    pub last_assigned_at: Option<DateTime<Utc>>,
}

/// A channel's distribution settings and its agent list.
#[derive(Debug, Clone)]
pub struct ChannelRule {
    pub cost: i32,
    pub limit: i32,
    pub auto_answer: bool,
    pub members: HashSet<Uuid>,
}

/// A conversation waiting in a queue, with the agents excluded from it in this queue stint.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub conversation_id: Uuid,
    pub channel_id: Uuid,
    pub excluded: HashSet<Uuid>,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// `(conversation, agent)` in queue order.
    pub assignments: Vec<(Uuid, Uuid)>,
    /// Conversations whose exclusions are cleared (every agent of the channel had excluded them).
    pub cleared: Vec<Uuid>,
}

/// Whether an agent has room for one more conversation of the channel (utilization and the channel's limit).
pub fn eligible(agent: &AgentLoad, channel_id: Uuid, rule: &ChannelRule) -> bool {
    agent.utilization + rule.cost <= FULL && agent.held.get(&channel_id).copied().unwrap_or(0) < rule.limit
}

/// Whether an agent could take one more conversation of any of the channels: when none can, a longer queue
/// cannot change the outcome.
pub fn any_room(agents: &HashMap<Uuid, AgentLoad>, channels: &HashMap<Uuid, ChannelRule>) -> bool {
    channels.iter().any(|(id, rule)| rule.members.iter().filter_map(|u| agents.get(u)).any(|a| eligible(a, *id, rule)))
}

/// Plans the assignments for `queue` (in queue order) and updates `agents` with what they take. `now` is what
/// an auto-answered assignment records as the agent's last assignment.
pub fn plan(
    queue: &[Waiting],
    channels: &HashMap<Uuid, ChannelRule>,
    agents: &mut HashMap<Uuid, AgentLoad>,
    now: DateTime<Utc>,
) -> Plan {
    let mut out = Plan::default();
    for w in queue {
        let Some(rule) = channels.get(&w.channel_id) else { continue };
        let all_excluded = !rule.members.is_empty() && rule.members.iter().all(|m| w.excluded.contains(m));
        if all_excluded {
            out.cleared.push(w.conversation_id);
        }
        let best = rule
            .members
            .iter()
            .filter(|m| all_excluded || !w.excluded.contains(m))
            .filter_map(|m| agents.get(m))
            .filter(|a| eligible(a, w.channel_id, rule))
            // Never assigned (None) sorts before any time: the idle longest.
            .min_by_key(|a| (a.utilization, a.last_assigned_at, a.user_id))
            .map(|a| a.user_id);
        let Some(agent_id) = best else { continue };
        if let Some(a) = agents.get_mut(&agent_id) {
            a.utilization += rule.cost;
            *a.held.entry(w.channel_id).or_insert(0) += 1;
            if rule.auto_answer {
                a.last_assigned_at = Some(now);
            }
        }
        out.assignments.push((w.conversation_id, agent_id));
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn id(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }
    fn at(s: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000 + s, 0).unwrap()
    }
    fn agent(n: u128, utilization: i32, last: Option<i64>) -> (Uuid, AgentLoad) {
        (id(n), AgentLoad { user_id: id(n), utilization, held: HashMap::new(), last_assigned_at: last.map(at) })
    }
    fn channel(cost: i32, limit: i32, members: &[u128]) -> ChannelRule {
        ChannelRule { cost, limit, auto_answer: false, members: members.iter().map(|m| id(*m)).collect() }
    }
    fn waiting(conv: u128, ch: u128, excluded: &[u128]) -> Waiting {
        Waiting { conversation_id: id(conv), channel_id: id(ch), excluded: excluded.iter().map(|m| id(*m)).collect() }
    }
    const CH: u128 = 1000;

    #[test]
    fn lowest_utilization_first() {
        let channels = HashMap::from([(id(CH), channel(10, 10, &[1, 2]))]);
        let mut agents = HashMap::from([agent(1, 30, None), agent(2, 20, Some(100))]);
        let p = plan(&[waiting(10, CH, &[])], &channels, &mut agents, at(0));
        assert_eq!(p.assignments, vec![(id(10), id(2))]);
        assert_eq!(agents[&id(2)].utilization, 30);
    }

    #[test]
    fn ties_go_to_the_idle_longest_then_the_lowest_id() {
        let channels = HashMap::from([(id(CH), channel(0, 10, &[1, 2, 3]))]);
        let mut agents = HashMap::from([agent(1, 0, Some(50)), agent(2, 0, Some(10)), agent(3, 0, Some(10))]);
        let p = plan(&[waiting(10, CH, &[])], &channels, &mut agents, at(0));
        assert_eq!(p.assignments, vec![(id(10), id(2))]);
        let mut agents = HashMap::from([agent(1, 0, Some(50)), agent(2, 0, None)]);
        let p = plan(&[waiting(10, CH, &[])], &channels, &mut agents, at(0));
        assert_eq!(p.assignments, vec![(id(10), id(2))], "never assigned counts as idle longest");
    }

    #[test]
    fn utilization_never_above_100() {
        let channels = HashMap::from([(id(CH), channel(50, 10, &[1]))]);
        let mut agents = HashMap::from([agent(1, 0, None)]);
        let q: Vec<Waiting> = (10..15).map(|c| waiting(c, CH, &[])).collect();
        let p = plan(&q, &channels, &mut agents, at(0));
        assert_eq!(p.assignments.len(), 2, "50 % each: at most 2");
        assert_eq!(agents[&id(1)].utilization, 100);
        let mut agents = HashMap::from([agent(1, 60, None)]);
        assert!(plan(&q, &channels, &mut agents, at(0)).assignments.is_empty());
    }

    #[test]
    fn zero_cost_still_limited_per_channel() {
        let channels = HashMap::from([(id(CH), channel(0, 3, &[1]))]);
        let mut agents = HashMap::from([agent(1, 100, None)]);
        let q: Vec<Waiting> = (10..20).map(|c| waiting(c, CH, &[])).collect();
        let p = plan(&q, &channels, &mut agents, at(0));
        assert_eq!(p.assignments.len(), 3);
        let mut held = agent(1, 0, None);
        held.1.held.insert(id(CH), 3);
        let mut agents = HashMap::from([held]);
        assert!(plan(&q, &channels, &mut agents, at(0)).assignments.is_empty(), "the limit counts what is held");
    }

    #[test]
    fn excluded_agents_are_skipped_and_no_head_of_line_blocking() {
        let channels = HashMap::from([(id(CH), channel(10, 10, &[1, 2]))]);
        let mut agents = HashMap::from([agent(1, 0, None)]);
        // Agent 2 is not online: the first conversation, which agent 1 rejected, waits; the second is taken.
        let p = plan(&[waiting(10, CH, &[1]), waiting(11, CH, &[])], &channels, &mut agents, at(0));
        assert_eq!(p.assignments, vec![(id(11), id(1))]);
        assert!(p.cleared.is_empty());
    }

    #[test]
    fn everyone_excluded_clears_the_round() {
        let channels = HashMap::from([(id(CH), channel(10, 10, &[1, 2]))]);
        let mut agents = HashMap::from([agent(1, 0, None), agent(2, 0, None)]);
        let p = plan(&[waiting(10, CH, &[1, 2])], &channels, &mut agents, at(0));
        assert_eq!(p.cleared, vec![id(10)]);
        assert_eq!(p.assignments.len(), 1);
    }

    #[test]
    fn only_members_of_the_channel() {
        let channels = HashMap::from([(id(CH), channel(10, 10, &[2]))]);
        let mut agents = HashMap::from([agent(1, 0, None)]);
        assert!(plan(&[waiting(10, CH, &[])], &channels, &mut agents, at(0)).assignments.is_empty());
        assert!(!any_room(&agents, &channels));
    }

    #[test]
    fn several_channels_share_the_agent_utilization() {
        let channels = HashMap::from([(id(CH), channel(60, 10, &[1])), (id(CH + 1), channel(50, 10, &[1]))]);
        let mut agents = HashMap::from([agent(1, 0, None)]);
        let p = plan(&[waiting(10, CH, &[]), waiting(11, CH + 1, &[])], &channels, &mut agents, at(0));
        assert_eq!(p.assignments, vec![(id(10), id(1))], "60 + 50 would exceed 100");
    }

    #[test]
    fn auto_answer_moves_the_idle_clock_so_agents_take_turns() {
        let mut rule = channel(0, 10, &[1, 2]);
        rule.auto_answer = true;
        let channels = HashMap::from([(id(CH), rule)]);
        let mut agents = HashMap::from([agent(1, 0, Some(1)), agent(2, 0, Some(2))]);
        let q: Vec<Waiting> = (10..14).map(|c| waiting(c, CH, &[])).collect();
        let p = plan(&q, &channels, &mut agents, at(100));
        let firsts: Vec<Uuid> = p.assignments.iter().map(|(_, a)| *a).collect();
        assert_eq!(firsts[..2], [id(1), id(2)]);
    }
}
