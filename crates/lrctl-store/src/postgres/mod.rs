//! The PostgreSQL back end: one database shared by workers on many machines.

mod auth;
mod schema;

use std::time::{Duration, Instant};

use postgres::types::ToSql;
use postgres::{Client, GenericClient, NoTls, Row};

use crate::common::{
    self, CELL_COLUMNS, CLAIMED_COLUMNS, PARTIAL_COLUMNS, PROVENANCE_COLUMNS, RawRow,
    STUDY_COLUMNS, TRIAL_COLUMNS, check_json, check_name, check_result, check_trial, check_worker,
    to_i64,
};
use crate::curve::{self, CurvePointRow};
use crate::error::{Result, StoreError};
use crate::local;
use crate::types::*;
use crate::{
    INTERACTIVE_CONNECT_TIMEOUT, Notice, NoticeHook, OpenMode, OpenOptions, Patience, Store,
};

use schema::{Found, MIGRATIONS, Migration};

/// How to open a PostgreSQL store.
#[derive(Clone)]
pub struct PostgresOptions {
    /// [`OpenMode::Create`] creates the schema in an empty database (the database itself
    /// must exist: `createdb`, as on any managed server); [`OpenMode::Existing`] refuses an
    /// empty one ([`StoreError::Missing`]); [`OpenMode::ReadOnly`] also runs every transaction
    /// `READ ONLY`, so a role without write privileges can read.
    pub mode: OpenMode,
    /// How long to keep reconnecting, with exponential back-off, when the server cannot be
    /// reached (restarted, failing over, network blip) before giving up with
    /// [`StoreError::Unavailable`]. Zero: give up at the first failure.
    pub retry_for: Duration,
    /// Timeout of one connection attempt.
    pub connect_timeout: Duration,
    /// Told before each wait for the server, and about an ignored password file.
    pub on_notice: Option<NoticeHook>,
}

impl std::fmt::Debug for PostgresOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresOptions")
            .field("mode", &self.mode)
            .field("retry_for", &self.retry_for)
            .field("connect_timeout", &self.connect_timeout)
            .field("on_notice", &self.on_notice.is_some())
            .finish()
    }
}

impl Default for PostgresOptions {
    /// A worker's: create, reconnect for [`WORKER_RETRY`](crate::WORKER_RETRY), no notices.
    fn default() -> Self {
        PostgresOptions::from_open(&OpenOptions::worker(OpenMode::Create, None))
    }
}

impl PostgresOptions {
    /// The PostgreSQL side of back-end independent [`OpenOptions`].
    pub fn from_open(options: &OpenOptions) -> PostgresOptions {
        let (retry_for, connect_timeout) = match options.patience {
            Patience::Interactive => (Duration::ZERO, INTERACTIVE_CONNECT_TIMEOUT),
            Patience::Persistent(d) => (d, Duration::from_secs(10)),
        };
        PostgresOptions {
            mode: options.mode,
            retry_for,
            connect_timeout,
            on_notice: options.on_notice.clone(),
        }
    }
}

/// A store in a PostgreSQL database (schema version [`SCHEMA_VERSION`](crate::SCHEMA_VERSION),
/// the same tables and rules as [`SqliteStore`](crate::SqliteStore)).
///
/// Workers claim cells with `UPDATE … WHERE id = (SELECT … FOR UPDATE SKIP LOCKED LIMIT 1)`,
/// so many of them never wait on each other; lease times come from the server's clock. Every
/// operation is one transaction; when the connection breaks, the store reconnects with back-off
/// and runs the operation again, and the writes whose commit may have landed before the break
/// (claim, finish, release) recognise their own earlier success instead of failing.
///
/// The connection is unencrypted (`NoTls`): use it on a trusted network, or through an SSH
/// tunnel. The password comes from the URL, `PGPASSWORD` or a `.pgpass` file.
pub struct PostgresStore {
    client: Client,
    config: postgres::Config,
    location: String,
    retry_for: Duration,
    mode: OpenMode,
    on_notice: Option<NoticeHook>,
}

/// An operation's failure: a database error (maybe a broken connection, worth a retry) or a
/// store error that is final.
pub(crate) enum Fail {
    Pg(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

pub(crate) type PgResult<T> = std::result::Result<T, Fail>;

/// The server's clock when the statement started, in milliseconds since the Unix epoch: one
/// value within a statement, so the columns it sets together agree.
const NOW: &str = "(extract(epoch from statement_timestamp()) * 1000)::bigint";

const LEASE_HELD: &str = "id = $1 AND state = 'running' AND worker = $2 AND attempts = $3";

/// Whether the error means the connection is gone or the server is not accepting work right
/// now (restart, shutdown, failover), rather than a problem with the statement.
fn is_transient(e: &postgres::Error) -> bool {
    if e.is_closed() {
        return true;
    }
    if let Some(code) = e.code() {
        let c = code.code();
        // 08: connection exception; 57P01-57P03: admin/crash shutdown, cannot connect now;
        // 53300: too many connections; 40001/40P01: serialisation failure, deadlock.
        return c.starts_with("08")
            || matches!(c, "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01");
    }
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        if s.is::<std::io::Error>() {
            return true;
        }
        source = s.source();
    }
    // Errors without a server code and without an I/O cause (e.g. a type conversion) are bugs
    // or bad data: retrying would not help.
    e.to_string().contains("error connecting to server")
}

impl PostgresStore {
    /// Opens the store at a `postgres://` URL with default options.
    pub fn open(url: &str) -> Result<PostgresStore> {
        PostgresStore::open_with(url, &PostgresOptions::default())
    }

    /// Opens the store at `url`, creating the schema in an empty database when
    /// `options.create`; refuses a database with other tables and a store with a newer schema,
    /// migrates an older one.
    pub fn open_with(url: &str, options: &PostgresOptions) -> Result<PostgresStore> {
        PostgresStore::open_with_migrations(url, options, MIGRATIONS)
    }

    pub(crate) fn open_with_migrations(
        url: &str,
        options: &PostgresOptions,
        migrations: &[Migration],
    ) -> Result<PostgresStore> {
        let location = crate::redact(url);
        let mut config: postgres::Config = url.parse().map_err(|e| {
            StoreError::Invalid(format!(
                "{location}: not a PostgreSQL URL ({e}); expected postgres://USER[:PASSWORD]@HOST[:PORT]/DATABASE"
            ))
        })?;
        let ignored = auth::complete(&mut config);
        if let (Some(path), Some(hook)) = (ignored, &options.on_notice) {
            hook(&Notice::PasswordFileIgnored { path });
        }
        config.connect_timeout(options.connect_timeout);
        if config.get_application_name().is_none() {
            config.application_name("lrctl");
        }
        if options.mode == OpenMode::ReadOnly {
            // A session setting, so reconnections get it too; the server refuses any write.
            let mut opts = config.get_options().unwrap_or_default().to_string();
            if !opts.is_empty() {
                opts.push(' ');
            }
            opts.push_str("-c default_transaction_read_only=on");
            config.options(&opts);
        }
        let client = connect(
            &config,
            &location,
            options.retry_for,
            options.on_notice.as_ref(),
        )?;
        let mut store = PostgresStore {
            client,
            config,
            location,
            retry_for: options.retry_for,
            mode: options.mode,
            on_notice: options.on_notice.clone(),
        };
        let latest = migrations.last().map_or(0, |m| m.version);
        let location = store.location.clone();
        let found = store.run(|c, _| schema::inspect(c, &location))?;
        match found {
            Found::Lrctl(v) if v > latest => {
                return Err(StoreError::TooNew {
                    location,
                    found: v,
                    supported: latest,
                });
            }
            Found::Lrctl(v) if v == latest => {}
            Found::Empty if !options.mode.creates() => {
                return Err(StoreError::Missing { location });
            }
            Found::Lrctl(v) if !options.mode.writes() => {
                return Err(StoreError::NeedsMigration {
                    location,
                    found: v,
                    supported: latest,
                });
            }
            _ => store.run(|c, _| schema::migrate(c, &location, migrations))?,
        }
        Ok(store)
    }

    /// [`StoreError::ReadOnly`] unless the store was opened for writing.
    fn writable(&self, operation: &'static str) -> Result<()> {
        if self.mode.writes() {
            Ok(())
        } else {
            Err(StoreError::ReadOnly {
                location: self.location.clone(),
                operation,
            })
        }
    }

    /// Runs `op` (one transaction), reconnecting and running it again while the server is
    /// unreachable, for up to `retry_for`. `op` is told whether this is a repeat.
    fn run<T>(&mut self, mut op: impl FnMut(&mut Client, bool) -> PgResult<T>) -> Result<T> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(100);
        let mut repeat = false;
        loop {
            match op(&mut self.client, repeat) {
                Ok(v) => return Ok(v),
                Err(Fail::Store(e)) => return Err(e),
                Err(Fail::Pg(e)) if !is_transient(&e) => return Err(self.db_error(e)),
                Err(Fail::Pg(e)) => {
                    if start.elapsed() >= self.retry_for {
                        return Err(StoreError::Unavailable {
                            location: self.location.clone(),
                            waited: start.elapsed().as_secs(),
                            message: e.to_string(),
                        });
                    }
                    if let Some(hook) = &self.on_notice {
                        hook(&Notice::Waiting {
                            location: self.location.clone(),
                            reason: e.to_string(),
                            waited: start.elapsed(),
                            retry_in: delay,
                        });
                    }
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_secs(5));
                    let left = self.retry_for.saturating_sub(start.elapsed());
                    if let Ok(c) =
                        connect(&self.config, &self.location, left, self.on_notice.as_ref())
                    {
                        self.client = c;
                    }
                    repeat = true;
                }
            }
        }
    }

    fn db_error(&self, e: postgres::Error) -> StoreError {
        StoreError::Database {
            location: self.location.clone(),
            source: Box::new(e),
        }
    }
}

/// Connects, retrying with back-off for up to `retry_for` while the server is unreachable
/// (and telling `on_notice` before each wait).
fn connect(
    config: &postgres::Config,
    location: &str,
    retry_for: Duration,
    on_notice: Option<&NoticeHook>,
) -> Result<Client> {
    let start = Instant::now();
    let mut delay = Duration::from_millis(100);
    loop {
        match config.connect(NoTls) {
            Ok(c) => return Ok(c),
            Err(e) if is_transient(&e) && start.elapsed() + delay < retry_for => {
                if let Some(hook) = on_notice {
                    hook(&Notice::Waiting {
                        location: location.to_string(),
                        reason: e.to_string(),
                        waited: start.elapsed(),
                        retry_in: delay,
                    });
                }
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) if is_transient(&e) => {
                return Err(StoreError::Unavailable {
                    location: location.to_string(),
                    waited: start.elapsed().as_secs(),
                    message: e.to_string(),
                });
            }
            Err(e) => {
                // Authentication and missing databases are final; say what to check.
                let hint = match e.code().map(|c| c.code()) {
                    Some("28P01" | "28000") => {
                        "; check the user, and give the password in the URL, PGPASSWORD or ~/.pgpass"
                    }
                    Some("3D000") => "; create the database first (createdb)",
                    _ => "",
                };
                return Err(StoreError::Invalid(format!(
                    "{location}: cannot connect: {}{hint}",
                    e.as_db_error()
                        .map_or_else(|| e.to_string(), |d| d.message().to_string())
                )));
            }
        }
    }
}

/// A PostgreSQL row seen through [`RawRow`]. The schema fixes each column's type, so only
/// NULLs and out-of-range values can surprise; a type mismatch is still an error, not a panic.
struct Raw<'a>(&'a Row);

impl RawRow for Raw<'_> {
    fn int(&self, i: usize) -> std::result::Result<Option<i64>, String> {
        match self.0.try_get::<_, Option<i64>>(i) {
            Ok(v) => Ok(v),
            Err(_) => self
                .0
                .try_get::<_, Option<i32>>(i)
                .map(|v| v.map(i64::from))
                .map_err(|e| e.to_string()),
        }
    }

    fn real(&self, i: usize) -> std::result::Result<Option<f64>, String> {
        self.0
            .try_get::<_, Option<f64>>(i)
            .map_err(|e| e.to_string())
    }

    fn text(&self, i: usize) -> std::result::Result<Option<String>, String> {
        self.0
            .try_get::<_, Option<String>>(i)
            .map_err(|e| e.to_string())
    }
}

fn decoded<T>(r: Result<T>) -> PgResult<T> {
    r.map_err(Fail::Store)
}

fn u32_of(v: i32) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// The cell's `(state, worker, attempts)`, for explaining a refused write.
fn lease_row(
    c: &mut impl GenericClient,
    cell: CellId,
) -> PgResult<Option<(String, Option<String>, u32)>> {
    Ok(c.query_opt(
        "SELECT state, worker, attempts FROM cell WHERE id = $1",
        &[&cell.0],
    )?
    .map(|r| {
        (
            r.try_get::<_, Option<String>>(0)
                .ok()
                .flatten()
                .unwrap_or_default(),
            r.try_get(1).ok().flatten(),
            u32_of(r.try_get(2).unwrap_or(0)),
        )
    }))
}

fn lease_error(c: &mut impl GenericClient, location: &str, lease: &Lease) -> Fail {
    match lease_row(c, lease.cell) {
        Ok(row) => Fail::Store(common::lease_error(location, lease, row)),
        Err(e) => e,
    }
}

fn attempt(lease: &Lease) -> i32 {
    i32::try_from(lease.attempt).unwrap_or(i32::MAX)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

impl Store for PostgresStore {
    fn location(&self) -> &str {
        &self.location
    }

    fn upsert_study(&mut self, name: &str, spec_json: &str) -> Result<StudyId> {
        self.writable("upsert_study")?;
        check_name(name)?;
        check_json(&format!("the specification of study {name:?}"), spec_json)?;
        self.run(|c, _| {
            let r = c.query_one(
                &format!(
                    "INSERT INTO study (name, spec, created_at, updated_at)
                     VALUES ($1, $2, {NOW}, {NOW})
                     ON CONFLICT (name) DO UPDATE SET spec = excluded.spec,
                         updated_at = CASE WHEN study.spec = excluded.spec THEN study.updated_at
                                           ELSE excluded.updated_at END
                     RETURNING id"
                ),
                &[&name, &spec_json],
            )?;
            Ok(StudyId(r.get(0)))
        })
    }

    fn study(&mut self, name: &str) -> Result<Option<StudyRow>> {
        let location = self.location.clone();
        self.run(|c, _| {
            c.query_opt(
                &format!("SELECT {STUDY_COLUMNS} FROM study WHERE name = $1"),
                &[&name],
            )?
            .map(|r| decoded(common::decode_study(&Raw(&r), &location)))
            .transpose()
        })
    }

    fn studies(&mut self) -> Result<Vec<StudyRow>> {
        let location = self.location.clone();
        self.run(|c, _| {
            c.query(
                &format!("SELECT {STUDY_COLUMNS} FROM study ORDER BY id"),
                &[],
            )?
            .iter()
            .map(|r| decoded(common::decode_study(&Raw(r), &location)))
            .collect()
        })
    }

    fn add_cells(&mut self, study: StudyId, cells: &[NewCell]) -> Result<AddReport> {
        self.writable("add_cells")?;
        let mut seeds = Vec::with_capacity(cells.len());
        for c in cells {
            seeds.push(to_i64("seed", c.seed)?);
            check_json(
                &format!("task_config of {}/{}/{}", c.task, c.method, c.seed),
                &c.task_config,
            )?;
            check_json(
                &format!("method_config of {}/{}/{}", c.task, c.method, c.seed),
                &c.method_config,
            )?;
        }
        let location = self.location.clone();
        self.run(|client, _| {
            let mut tx = client.transaction()?;
            // Locking the study row serialises submissions of the same study (two `slurm
            // submit`s at once), so neither sees the other's half-added cells.
            if tx
                .query_opt("SELECT id FROM study WHERE id = $1 FOR UPDATE", &[&study.0])?
                .is_none()
            {
                return Err(Fail::Store(StoreError::UnknownStudy {
                    location: location.clone(),
                    study: format!("with id {study}"),
                }));
            }
            let now: i64 = tx.query_one(&format!("SELECT {NOW}"), &[])?.get(0);
            let find = tx.prepare(
                "SELECT id, superseded_at IS NOT NULL FROM cell
                 WHERE study_id = $1 AND task = $2 AND method = $3 AND seed = $4 AND config_hash = $5",
            )?;
            let supersede = tx.prepare(
                "UPDATE cell SET superseded_at = $5
                 WHERE study_id = $1 AND task = $2 AND method = $3 AND seed = $4
                   AND superseded_at IS NULL",
            )?;
            let reinstate = tx.prepare("UPDATE cell SET superseded_at = NULL WHERE id = $1")?;
            let insert = tx.prepare(
                "INSERT INTO cell (study_id, task, method, seed, config_hash, task_config,
                                   method_config, created_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )?;
            let mut report = AddReport::default();
            for (c, seed) in cells.iter().zip(&seeds) {
                let key: [&(dyn ToSql + Sync); 4] = [&study.0, &c.task, &c.method, seed];
                let found = tx.query_opt(&find, &[key[0], key[1], key[2], key[3], &c.config_hash])?;
                let old = [key[0], key[1], key[2], key[3], &now];
                match found.map(|r| (r.get::<_, i64>(0), r.get::<_, bool>(1))) {
                    Some((_, false)) => report.existing += 1,
                    Some((id, true)) => {
                        report.superseded += tx.execute(&supersede, &old)? as usize;
                        tx.execute(&reinstate, &[&id])?;
                        report.reinstated += 1;
                    }
                    None => {
                        report.superseded += tx.execute(&supersede, &old)? as usize;
                        tx.execute(
                            &insert,
                            &[
                                key[0],
                                key[1],
                                key[2],
                                key[3],
                                &c.config_hash,
                                &c.task_config,
                                &c.method_config,
                                &now,
                            ],
                        )?;
                        report.added += 1;
                    }
                }
            }
            tx.commit()?;
            Ok(report)
        })
    }

    fn claim(
        &mut self,
        filter: &ClaimFilter,
        worker: &str,
        lease: Duration,
    ) -> Result<Option<ClaimedCell>> {
        self.writable("claim")?;
        check_worker(worker)?;
        let location = self.location.clone();
        let lease_ms = millis(lease);
        let study = filter.study.map(|s| s.0);
        let skip: Vec<i64> = filter.skip.iter().map(|c| c.0).collect();
        self.run(|c, repeat| {
            if repeat {
                // The previous attempt may have committed before the connection broke: a
                // worker id holds one cell at a time, so a running cell under it is ours.
                let mine = c.query_opt(
                    &format!(
                        "SELECT {CLAIMED_COLUMNS} FROM cell
                         WHERE state = 'running' AND worker = $1 AND superseded_at IS NULL
                           AND ($2::bigint IS NULL OR study_id = $2)
                         ORDER BY claimed_at DESC LIMIT 1"
                    ),
                    &[&worker, &study],
                )?;
                if let Some(r) = mine {
                    return decoded(common::decode_claimed(&Raw(&r), &location, worker)).map(Some);
                }
            }
            let row = c.query_opt(
                &format!(
                    "WITH now AS (SELECT {NOW} AS ms)
                     UPDATE cell SET state = 'running', worker = $1, claimed_at = now.ms,
                            heartbeat_at = now.ms, lease_expires_at = now.ms + $2,
                            attempts = attempts + 1
                     FROM now
                     WHERE id = (SELECT id FROM cell, now
                                 WHERE superseded_at IS NULL
                                   AND (state = 'queued'
                                        OR (state = 'running' AND lease_expires_at <= now.ms))
                                   AND ($3::bigint IS NULL OR study_id = $3)
                                   AND NOT (id = ANY($4::bigint[]))
                                 ORDER BY id LIMIT 1 FOR UPDATE OF cell SKIP LOCKED)
                     RETURNING {}",
                    qualified(CLAIMED_COLUMNS)
                ),
                &[&worker, &lease_ms, &study, &skip],
            )?;
            row.map(|r| decoded(common::decode_claimed(&Raw(&r), &location, worker)))
                .transpose()
        })
    }

    fn heartbeat(&mut self, lease: &Lease, extend: Duration) -> Result<Timestamp> {
        self.writable("heartbeat")?;
        let location = self.location.clone();
        let ms = millis(extend);
        self.run(|c, _| {
            let row = c.query_opt(
                &format!(
                    "UPDATE cell SET heartbeat_at = {NOW}, lease_expires_at = {NOW} + $4
                     WHERE {LEASE_HELD} RETURNING lease_expires_at"
                ),
                &[&lease.cell.0, &lease.worker, &attempt(lease), &ms],
            )?;
            match row {
                Some(r) => Ok(Timestamp(r.get(0))),
                None => Err(lease_error(c, &location, lease)),
            }
        })
    }

    fn finish(
        &mut self,
        lease: &Lease,
        result: &CellResult,
        points: &[CurvePointRow],
    ) -> Result<()> {
        self.writable("finish")?;
        check_result(lease.cell, result)?;
        let blob = curve::encode(points);
        let location = self.location.clone();
        let n_points = points.len() as i64;
        // The result's columns and values come from lrctl-record, bound after the lease's
        // three.
        let values: Vec<Box<dyn postgres::types::ToSql + Sync>> = result
            .values()
            .into_iter()
            .map(|v| -> Box<dyn postgres::types::ToSql + Sync> {
                match v {
                    lrctl_record::Value::Int(x) => Box::new(x),
                    lrctl_record::Value::Real(x) => Box::new(x),
                    lrctl_record::Value::Text(x) => Box::new(x),
                }
            })
            .collect();
        let attempt_ = attempt(lease);
        self.run(|c, repeat| {
            let mut tx = c.transaction()?;
            let known = tx.query_opt(
                "SELECT 1 FROM provenance WHERE id = $1",
                &[&result.provenance.0],
            )?;
            if known.is_none() {
                return Err(Fail::Store(StoreError::Invalid(format!(
                    "{location}: cell {}: the result refers to provenance {} which is not in this store",
                    lease.cell, result.provenance
                ))));
            }
            let mut params: Vec<&(dyn postgres::types::ToSql + Sync)> =
                vec![&lease.cell.0, &lease.worker, &attempt_];
            params.extend(values.iter().map(|v| v.as_ref()));
            let n = tx.execute(
                &format!(
                    "UPDATE cell SET state = 'done', lease_expires_at = NULL, heartbeat_at = {NOW},
                         finished_at = {NOW}, {}
                     WHERE {LEASE_HELD}",
                    common::result_assignments('$', 4)
                ),
                &params,
            )?;
            if n == 0 {
                let row = lease_row(&mut tx, lease.cell)?;
                // A repeat after a broken connection finds its own commit: that is success.
                let ours = matches!(&row, Some((s, Some(w), a))
                    if s == "done" && *w == lease.worker && *a == lease.attempt);
                if repeat && ours {
                    return Ok(());
                }
                return Err(Fail::Store(common::lease_error(&location, lease, row)));
            }
            tx.execute(
                "INSERT INTO curve (cell_id, n_points, format, data) VALUES ($1, $2, 1, $3)",
                &[&lease.cell.0, &n_points, &blob],
            )?;
            tx.execute(
                "DELETE FROM partial_curve WHERE cell_id = $1",
                &[&lease.cell.0],
            )?;
            tx.commit()?;
            Ok(())
        })
    }

    fn release(&mut self, lease: &Lease) -> Result<()> {
        self.writable("release")?;
        let location = self.location.clone();
        self.run(|c, repeat| {
            let n = c.execute(
                &format!(
                    "UPDATE cell SET state = 'queued', worker = NULL, claimed_at = NULL,
                         lease_expires_at = NULL WHERE {LEASE_HELD}"
                ),
                &[&lease.cell.0, &lease.worker, &attempt(lease)],
            )?;
            if n == 0 {
                let row = lease_row(c, lease.cell)?;
                if repeat && matches!(&row, Some((s, None, _)) if s == "queued") {
                    return Ok(());
                }
                return Err(Fail::Store(common::lease_error(&location, lease, row)));
            }
            Ok(())
        })
    }

    fn requeue_dead_local(&mut self, host: &str) -> Result<usize> {
        self.writable("requeue_dead_local")?;
        self.run(|c, _| {
            let mut tx = c.transaction()?;
            let running = tx.query(
                "SELECT id, worker, attempts FROM cell WHERE state = 'running' FOR UPDATE",
                &[],
            )?;
            let mut requeued = 0;
            for r in running {
                // A row that cannot be read cannot be this machine's worker's cell.
                let (Ok(id), Ok(worker), Ok(attempts)) = (
                    r.try_get::<_, i64>(0),
                    r.try_get::<_, String>(1),
                    r.try_get::<_, i32>(2),
                ) else {
                    continue;
                };
                let Some(pid) = local::local_pid(&worker, host) else {
                    continue;
                };
                if local::pid_alive(pid) != Some(false) {
                    continue;
                }
                requeued += tx.execute(
                    &format!(
                        "UPDATE cell SET state = 'queued', worker = NULL, claimed_at = NULL,
                             lease_expires_at = NULL WHERE {LEASE_HELD}"
                    ),
                    &[&id, &worker, &attempts],
                )? as usize;
            }
            tx.commit()?;
            Ok(requeued)
        })
    }

    fn requeue_cells(&mut self, study: StudyId, cells: &[CellId]) -> Result<usize> {
        self.writable("requeue_cells")?;
        let ids: Vec<i64> = cells.iter().map(|c| c.0).collect();
        self.run(|c, _| {
            let mut tx = c.transaction()?;
            let chosen = format!(
                "SELECT id FROM cell WHERE study_id = $1 AND id = ANY($2::bigint[])
                   AND NOT (state = 'running' AND lease_expires_at > {NOW})"
            );
            for table in ["curve", "partial_curve"] {
                tx.execute(
                    &format!("DELETE FROM {table} WHERE cell_id IN ({chosen})"),
                    &[&study.0, &ids],
                )?;
            }
            let n = tx.execute(
                &format!(
                    "UPDATE cell SET state = 'queued', worker = NULL, claimed_at = NULL,
                         heartbeat_at = NULL, lease_expires_at = NULL, finished_at = NULL,
                         {}
                     WHERE id IN ({chosen})",
                    common::result_cleared()
                ),
                &[&study.0, &ids],
            )?;
            tx.commit()?;
            Ok(n as usize)
        })
    }

    fn retire_cells(&mut self, study: StudyId, cells: &[CellId]) -> Result<usize> {
        self.writable("retire_cells")?;
        let ids: Vec<i64> = cells.iter().map(|c| c.0).collect();
        self.run(|c, _| {
            let n = c.execute(
                &format!(
                    "UPDATE cell SET superseded_at = {NOW}
                     WHERE study_id = $1 AND id = ANY($2::bigint[])
                       AND superseded_at IS NULL AND state <> 'running'"
                ),
                &[&study.0, &ids],
            )?;
            Ok(n as usize)
        })
    }

    fn cells(&mut self, study: StudyId, which: CellSet) -> Result<Vec<CellRow>> {
        let location = self.location.clone();
        let all = which == CellSet::All;
        self.run(|c, _| {
            c.query(
                &format!(
                    "SELECT {CELL_COLUMNS} FROM cell WHERE study_id = $1
                       AND ($2 OR superseded_at IS NULL) ORDER BY id"
                ),
                &[&study.0, &all],
            )?
            .iter()
            .map(|r| decoded(common::decode_cell(&Raw(r), &location)))
            .collect()
        })
    }

    fn cell_briefs(&mut self, study: StudyId) -> Result<Vec<CellBrief>> {
        let location = self.location.clone();
        let sql = format!(
            "SELECT {} FROM cell WHERE study_id = $1 AND superseded_at IS NULL ORDER BY id",
            common::brief_columns().join(", ")
        );
        self.run(|c, _| {
            c.query(&sql, &[&study.0])?
                .iter()
                .map(|r| decoded(common::decode_brief(&Raw(r), &location)))
                .collect()
        })
    }

    fn task_cells(&mut self, study: StudyId, task: &str) -> Result<Vec<CellRow>> {
        let location = self.location.clone();
        self.run(|c, _| {
            c.query(
                &format!(
                    "SELECT {CELL_COLUMNS} FROM cell
                     WHERE study_id = $1 AND task = $2 AND superseded_at IS NULL ORDER BY id"
                ),
                &[&study.0, &task],
            )?
            .iter()
            .map(|r| decoded(common::decode_cell(&Raw(r), &location)))
            .collect()
        })
    }

    fn cell(&mut self, id: CellId) -> Result<Option<CellRow>> {
        let location = self.location.clone();
        self.run(|c, _| {
            c.query_opt(
                &format!("SELECT {CELL_COLUMNS} FROM cell WHERE id = $1"),
                &[&id.0],
            )?
            .map(|r| decoded(common::decode_cell(&Raw(&r), &location)))
            .transpose()
        })
    }

    fn curve(&mut self, cell: CellId) -> Result<Vec<CurvePointRow>> {
        let location = self.location.clone();
        self.run(|c, _| {
            let row = c.query_opt(
                "SELECT curve.data, curve.n_points FROM cell
                 LEFT JOIN curve ON curve.cell_id = cell.id WHERE cell.id = $1",
                &[&cell.0],
            )?;
            let corrupt = |message: String| {
                Fail::Store(StoreError::Corrupt {
                    location: location.clone(),
                    message: format!("curve of cell {cell}: {message}"),
                })
            };
            let Some(row) = row else {
                return Err(Fail::Store(StoreError::UnknownCell {
                    location: location.clone(),
                    cell,
                }));
            };
            let blob = row
                .try_get::<_, Option<Vec<u8>>>(0)
                .map_err(|e| corrupt(e.to_string()))?;
            let Some(blob) = blob else {
                return Ok(Vec::new());
            };
            let n: i64 = row
                .try_get::<_, Option<i64>>(1)
                .map_err(|e| corrupt(e.to_string()))?
                .unwrap_or(-1);
            let points = curve::decode(&blob).map_err(corrupt)?;
            if points.len() as i64 != n {
                return Err(corrupt(format!(
                    "{} points, the row says {n}",
                    points.len()
                )));
            }
            Ok(points)
        })
    }

    fn put_partial_curve(&mut self, lease: &Lease, points: &[CurvePointRow]) -> Result<()> {
        self.writable("put_partial_curve")?;
        let blob = curve::encode(points);
        let n_points = points.len() as i64;
        let location = self.location.clone();
        self.run(|c, _| {
            let n = c.execute(
                &format!(
                    "INSERT INTO partial_curve (cell_id, attempt, n_points, format, data, updated_at)
                     SELECT id, attempts, $4, 1, $5, {NOW} FROM cell WHERE {LEASE_HELD}
                     ON CONFLICT (cell_id) DO UPDATE SET attempt = excluded.attempt,
                         n_points = excluded.n_points, format = excluded.format,
                         data = excluded.data, updated_at = excluded.updated_at"
                ),
                &[
                    &lease.cell.0,
                    &lease.worker,
                    &attempt(lease),
                    &n_points,
                    &blob,
                ],
            )?;
            if n == 0 {
                return Err(lease_error(c, &location, lease));
            }
            Ok(())
        })
    }

    fn partial_curves(&mut self, study: StudyId) -> Result<Vec<PartialCurveInfo>> {
        let location = self.location.clone();
        self.run(|c, _| {
            c.query(
                &format!(
                    "SELECT {PARTIAL_COLUMNS} FROM partial_curve p JOIN cell c ON c.id = p.cell_id
                     WHERE c.study_id = $1 AND c.superseded_at IS NULL AND c.state <> 'done'
                     ORDER BY p.cell_id"
                ),
                &[&study.0],
            )?
            .iter()
            .map(|r| decoded(common::decode_partial(&Raw(r), &location)))
            .collect()
        })
    }

    fn partial_curve(&mut self, cell: CellId) -> Result<Vec<CurvePointRow>> {
        let location = self.location.clone();
        self.run(|c, _| {
            let row = c.query_opt(
                "SELECT data FROM partial_curve WHERE cell_id = $1",
                &[&cell.0],
            )?;
            let Some(row) = row else {
                return Ok(Vec::new());
            };
            let corrupt = |message: String| {
                Fail::Store(StoreError::Corrupt {
                    location: location.clone(),
                    message: format!("partial curve of cell {cell}: {message}"),
                })
            };
            let blob: Vec<u8> = row.try_get(0).map_err(|e| corrupt(e.to_string()))?;
            curve::decode(&blob).map_err(corrupt)
        })
    }

    fn progress(&mut self, study: StudyId) -> Result<Progress> {
        self.run(|c, _| {
            let mut p = Progress::default();
            for r in c.query(
                "SELECT state, outcome, count(*) FROM cell
                 WHERE study_id = $1 AND superseded_at IS NULL GROUP BY state, outcome",
                &[&study.0],
            )? {
                let state: String = r.get(0);
                let outcome: Option<String> = r.get(1);
                let n: i64 = r.get(2);
                common::count(&mut p, &state, outcome.as_deref(), n as usize);
            }
            Ok(p)
        })
    }

    fn put_provenance(&mut self, p: &Provenance) -> Result<ProvenanceId> {
        self.writable("put_provenance")?;
        self.run(|c, _| {
            let mut tx = c.transaction()?;
            // Serialise inserts of provenance so that two workers never store the same one twice.
            tx.execute("LOCK TABLE provenance IN SHARE ROW EXCLUSIVE MODE", &[])?;
            let existing = tx.query_opt(
                "SELECT id FROM provenance WHERE lrctl_version = $1
                   AND git_commit IS NOT DISTINCT FROM $2 AND config_hash = $3 AND machine = $4
                   AND backend = $5 ORDER BY id LIMIT 1",
                &[
                    &p.lrctl_version,
                    &p.git_commit,
                    &p.config_hash,
                    &p.machine,
                    &p.backend,
                ],
            )?;
            let id: i64 = match existing {
                Some(r) => r.get(0),
                None => tx
                    .query_one(
                        &format!(
                            "INSERT INTO provenance (lrctl_version, git_commit, config_hash,
                                                     machine, backend, created_at)
                             VALUES ($1, $2, $3, $4, $5, {NOW}) RETURNING id"
                        ),
                        &[
                            &p.lrctl_version,
                            &p.git_commit,
                            &p.config_hash,
                            &p.machine,
                            &p.backend,
                        ],
                    )?
                    .get(0),
            };
            tx.commit()?;
            Ok(ProvenanceId(id))
        })
    }

    fn provenance(&mut self, id: ProvenanceId) -> Result<Option<ProvenanceRow>> {
        let location = self.location.clone();
        self.run(|c, _| {
            c.query_opt(
                &format!("SELECT {PROVENANCE_COLUMNS} FROM provenance WHERE id = $1"),
                &[&id.0],
            )?
            .map(|r| decoded(common::decode_provenance(&Raw(&r), &location)))
            .transpose()
        })
    }

    fn put_trial(&mut self, t: &TrialRow) -> Result<bool> {
        self.writable("put_trial")?;
        check_trial(t)?;
        let ints = [
            to_i64("trial", t.trial)?,
            to_i64("budget", t.budget)?,
            to_i64("steps", t.steps)?,
        ];
        let score = t.score.filter(|x| x.is_finite());
        self.run(|c, _| {
            let n = c.execute(
                &format!(
                    "INSERT INTO trial ({TRIAL_COLUMNS}, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, {NOW})
                     ON CONFLICT (tuning_key, trial) DO NOTHING"
                ),
                &[
                    &t.tuning_key,
                    &ints[0],
                    &t.config_json,
                    &ints[1],
                    &score,
                    &t.outcome.as_str(),
                    &ints[2],
                    &t.seconds,
                ],
            )?;
            Ok(n == 1)
        })
    }

    fn trials(&mut self, tuning_key: &str) -> Result<Vec<TrialRow>> {
        let location = self.location.clone();
        self.run(|c, _| {
            c.query(
                &format!("SELECT {TRIAL_COLUMNS} FROM trial WHERE tuning_key = $1 ORDER BY id"),
                &[&tuning_key],
            )?
            .iter()
            .map(|r| decoded(common::decode_trial(&Raw(r), &location)))
            .collect()
        })
    }
}

/// `cols` with each column qualified by `cell.` (an UPDATE … FROM has two tables in scope).
fn qualified(cols: &str) -> String {
    cols.split(',')
        .map(|c| format!("cell.{}", c.trim()))
        .collect::<Vec<_>>()
        .join(", ")
}
