//! Several processes starting together on one empty PostgreSQL database: migrations are applied once, and every
//! process comes up.

#[tokio::test]
async fn concurrent_start_ups_migrate_an_empty_postgres_database_once() {
    let db = tests::TestDb::fresh().await.unwrap_or_else(|e| panic!("{e}"));
    if db.backend != worker::config::Backend::Postgres {
        return; // the embedded SQLite default is one process
    }
    let starts = (0..4).map(|_| {
        let url = db.url.clone();
        tokio::spawn(async move {
            let conn = worker::db::connect_url(&url, worker::config::Backend::Postgres).await?;
            worker::db::migrate(&conn).await?;
            conn.close().await?;
            anyhow::Ok(())
        })
    });
    for r in futures::future::join_all(starts).await {
        r.unwrap_or_else(|e| panic!("{e}")).unwrap_or_else(|e| panic!("a start-up failed: {e:#}"));
    }
    use sea_orm::{ConnectionTrait, Statement};
    let conn =
        worker::db::connect_url(&db.url, worker::config::Backend::Postgres).await.unwrap_or_else(|e| panic!("{e}"));
    let row = conn
        .query_one_raw(Statement::from_string(
            conn.get_database_backend(),
            "SELECT COUNT(*) AS n FROM seaql_migrations",
        ))
        .await
        .ok()
        .flatten()
        .unwrap_or_else(|| panic!("no migration table"));
    let applied: i64 = row.try_get("", "n").unwrap_or(-1);
    use migration::MigratorTrait;
    let migrations = migration::Migrator::migrations().len() as i64;
    assert_eq!(applied, migrations, "each migration recorded once");
    conn.close().await.ok();
}
