//! Direct-dial agents of an account and every break they took.
//!
//! Promises: an agent's number (country code and national number, see
//! `flowhook_core::agents`) is unique per account; an agent has at most one
//! open break, by a partial unique index, so pausing a paused agent keeps the
//! break it is on, and two servers pausing it at once open one; a break ends
//! no earlier than it started; deleting an agent deletes its breaks.

use flowhook_core::agents::{AgentNumber, CountryCode};
use flowhook_core::ids::{AccountId, AgentId};

use crate::db::{Conn, Database, Row, Value, params, write_one};
use crate::{StoreError, corrupt, now_millis};

/// A stored agent, with whether it is on break.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentRecord {
    pub id: AgentId,
    pub account_id: AccountId,
    pub name: String,
    pub number: AgentNumber,
    /// When the break it is on started; `None` when it is not on break.
    pub paused_since: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// One break of an agent, with the agent it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct BreakRecord {
    pub agent_id: AgentId,
    pub agent_name: String,
    pub number: AgentNumber,
    pub started_at: i64,
    /// `None` while the break goes on.
    pub ended_at: Option<i64>,
}

/// Which breaks a report reads: those overlapping `[from, to)`.
#[derive(Debug, Clone)]
pub struct BreakFilter {
    pub from: i64,
    pub to: i64,
    /// Only this agent's.
    pub agent: Option<AgentId>,
    /// At most this many, oldest first.
    pub limit: i64,
}

/// Storage of agents and their breaks.
#[async_trait::async_trait]
pub trait AgentStore {
    /// Inserts an agent; `Conflict` if the account has one with its number.
    async fn insert_agent(&self, agent: &AgentRecord) -> Result<(), StoreError>;
    /// Replaces an agent's name and number; false if there is no such agent,
    /// `Conflict` if another agent has the number.
    async fn update_agent(&self, agent: &AgentRecord) -> Result<bool, StoreError>;
    async fn agent(
        &self,
        account: AccountId,
        id: AgentId,
    ) -> Result<Option<AgentRecord>, StoreError>;
    /// Every agent of the account, oldest first.
    async fn agents(&self, account: AccountId) -> Result<Vec<AgentRecord>, StoreError>;
    /// Deletes an agent with its breaks; false if there is no such agent.
    async fn delete_agent(&self, account: AccountId, id: AgentId) -> Result<bool, StoreError>;
    /// The agent with the first of `numbers` (E.164 digits) that one has.
    async fn agent_by_number(
        &self,
        account: AccountId,
        numbers: &[String],
    ) -> Result<Option<AgentRecord>, StoreError>;
    /// Puts the agent on break at `at` (`paused`; a break it is on goes on)
    /// or ends its break (when it is on none, nothing changes). The agent
    /// afterwards, or `None` if there is no such agent.
    async fn set_agent_paused(
        &self,
        account: AccountId,
        id: AgentId,
        paused: bool,
        at: i64,
    ) -> Result<Option<AgentRecord>, StoreError>;
    /// The breaks overlapping the filter's window, oldest first.
    async fn agent_breaks(
        &self,
        account: AccountId,
        filter: &BreakFilter,
    ) -> Result<Vec<BreakRecord>, StoreError>;
}

/// An agent with its open break, if any.
const SELECT: &str = "SELECT a.id, a.account_id, a.name, a.country_code, a.national, a.number,
        a.created_at, a.updated_at, b.started_at AS paused_since
    FROM agents a LEFT JOIN agent_breaks b ON b.agent_id = a.id AND b.ended_at IS NULL";

fn number_from_row(row: &Row) -> Result<AgentNumber, StoreError> {
    let code: String = row.get("country_code")?;
    Ok(AgentNumber {
        country_code: CountryCode::parse(&code).map_err(|e| corrupt("agent country code", e))?,
        national: row.get("national")?,
    })
}

fn agent_id(text: &str) -> Result<AgentId, StoreError> {
    AgentId::parse(text).ok_or_else(|| corrupt("agent id", text))
}

fn agent_from_row(row: &Row) -> Result<AgentRecord, StoreError> {
    Ok(AgentRecord {
        id: agent_id(&row.get::<String>("id")?)?,
        account_id: row.get("account_id")?,
        name: row.get("name")?,
        number: number_from_row(row)?,
        paused_since: row.get("paused_since")?,
        created_at: row.get("created_at")?,
        updated_at: row.get("updated_at")?,
    })
}

async fn agent_by_id<C: Conn>(
    c: &mut C,
    account: String,
    id: String,
) -> Result<Option<AgentRecord>, StoreError> {
    let sql = format!("{SELECT} WHERE a.account_id = $1 AND a.id = $2");
    c.query_opt_as(&sql, &params![account, id], agent_from_row)
        .await
}

/// The caller's meaning of a broken uniqueness rule: the number is taken.
fn number_taken(number: &AgentNumber) -> impl Fn(StoreError) -> StoreError {
    let text = format!("the account has an agent with the number {}", number.e164());
    move |e| match e {
        StoreError::Conflict(_) => StoreError::Conflict(text.clone()),
        other => other,
    }
}

#[async_trait::async_trait]
impl<D: Database> AgentStore for D {
    async fn insert_agent(&self, agent: &AgentRecord) -> Result<(), StoreError> {
        write_one(
            self,
            "INSERT INTO agents (id, account_id, name, country_code, national, number, created_at, updated_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
            params![
                agent.id.to_string(),
                agent.account_id.to_string(),
                &agent.name,
                agent.number.country_code.as_str(),
                &agent.number.national,
                agent.number.number(),
                now_millis()
            ],
        )
        .await
        .map_err(number_taken(&agent.number))?;
        Ok(())
    }

    async fn update_agent(&self, agent: &AgentRecord) -> Result<bool, StoreError> {
        let changed = write_one(
            self,
            "UPDATE agents SET name = $3, country_code = $4, national = $5, number = $6, updated_at = $7
             WHERE account_id = $1 AND id = $2",
            params![
                agent.account_id.to_string(),
                agent.id.to_string(),
                &agent.name,
                agent.number.country_code.as_str(),
                &agent.number.national,
                agent.number.number(),
                now_millis()
            ],
        )
        .await
        .map_err(number_taken(&agent.number))?;
        Ok(changed == 1)
    }

    async fn agent(
        &self,
        account: AccountId,
        id: AgentId,
    ) -> Result<Option<AgentRecord>, StoreError> {
        let (account, id) = (account.to_string(), id.to_string());
        self.read(move |c| Box::pin(agent_by_id(c, account, id)))
            .await
    }

    async fn agents(&self, account: AccountId) -> Result<Vec<AgentRecord>, StoreError> {
        let query = params![account.to_string()];
        self.read(move |c| {
            Box::pin(async move {
                let sql = format!("{SELECT} WHERE a.account_id = $1 ORDER BY a.created_at, a.id");
                c.query(&sql, &query)
                    .await?
                    .iter()
                    .map(agent_from_row)
                    .collect()
            })
        })
        .await
    }

    async fn delete_agent(&self, account: AccountId, id: AgentId) -> Result<bool, StoreError> {
        // The agent's breaks go with it (ON DELETE CASCADE, on both databases).
        let changed = write_one(
            self,
            "DELETE FROM agents WHERE account_id = $1 AND id = $2",
            params![account.to_string(), id.to_string()],
        )
        .await?;
        Ok(changed == 1)
    }

    async fn agent_by_number(
        &self,
        account: AccountId,
        numbers: &[String],
    ) -> Result<Option<AgentRecord>, StoreError> {
        if numbers.is_empty() {
            return Ok(None);
        }
        let numbers = numbers.to_vec();
        let mut query = params![account.to_string()];
        query.extend(numbers.iter().map(Value::from));
        let placeholders: Vec<String> = (2..=numbers.len() + 1).map(|i| format!("${i}")).collect();
        let sql = format!(
            "{SELECT} WHERE a.account_id = $1 AND a.number IN ({})",
            placeholders.join(", ")
        );
        let found: Vec<AgentRecord> = self
            .read(move |c| {
                Box::pin(async move {
                    c.query(&sql, &query)
                        .await?
                        .iter()
                        .map(agent_from_row)
                        .collect()
                })
            })
            .await?;
        // The likelier reading of the cli wins when both name an agent.
        Ok(numbers
            .iter()
            .find_map(|n| found.iter().find(|a| a.number.number() == *n).cloned()))
    }

    async fn set_agent_paused(
        &self,
        account: AccountId,
        id: AgentId,
        paused: bool,
        at: i64,
    ) -> Result<Option<AgentRecord>, StoreError> {
        let (account, id) = (account.to_string(), id.to_string());
        self.write(move |c| {
            Box::pin(async move {
                if agent_by_id(c, account.clone(), id.clone()).await?.is_none() {
                    return Ok(None);
                }
                if paused {
                    // A break already open stays: the partial unique index
                    // refuses a second, and the refusal changes nothing.
                    c.exec(
                        "INSERT INTO agent_breaks (id, agent_id, account_id, started_at)
                         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING",
                        &params![
                            uuid::Uuid::now_v7().to_string(),
                            id.clone(),
                            account.clone(),
                            at
                        ],
                    )
                    .await?;
                } else {
                    c.exec(
                        "UPDATE agent_breaks
                         SET ended_at = CASE WHEN started_at > $2 THEN started_at ELSE $2 END
                         WHERE agent_id = $1 AND ended_at IS NULL",
                        &params![id.clone(), at],
                    )
                    .await?;
                }
                agent_by_id(c, account, id).await
            })
        })
        .await
    }

    async fn agent_breaks(
        &self,
        account: AccountId,
        filter: &BreakFilter,
    ) -> Result<Vec<BreakRecord>, StoreError> {
        let query = params![
            account.to_string(),
            filter.from,
            filter.to,
            filter.agent.map(|a| a.to_string()),
            filter.limit
        ];
        self.read(move |c| {
            Box::pin(async move {
                // Three disjoint parts, each on an index: breaks that started
                // in the window, and those that started before it and ended
                // in it or go on.
                let sql = "WITH hits AS (
                        SELECT id FROM agent_breaks
                        WHERE account_id = $1 AND started_at >= $2 AND started_at < $3
                      UNION ALL
                        SELECT id FROM agent_breaks
                        WHERE account_id = $1 AND ended_at > $2 AND started_at < $2
                      UNION ALL
                        SELECT id FROM agent_breaks
                        WHERE account_id = $1 AND ended_at IS NULL AND started_at < $2
                    )
                    SELECT b.agent_id, a.name, a.country_code, a.national, b.started_at, b.ended_at
                    FROM hits JOIN agent_breaks b ON b.id = hits.id JOIN agents a ON a.id = b.agent_id
                    WHERE ($4 IS NULL OR b.agent_id = $4)
                    ORDER BY b.started_at, b.id LIMIT $5";
                c.query(sql, &query)
                    .await?
                    .iter()
                    .map(|row| {
                        Ok(BreakRecord {
                            agent_id: agent_id(&row.get::<String>("agent_id")?)?,
                            agent_name: row.get("name")?,
                            number: number_from_row(row)?,
                            started_at: row.get("started_at")?,
                            ended_at: row.get("ended_at")?,
                        })
                    })
                    .collect()
            })
        })
        .await
    }
}
