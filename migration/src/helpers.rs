//! Column and index builders shared by the migrations. A migration's output must never change once it has run
//! somewhere, so these functions are only ever added to, never edited.

use sea_orm_migration::prelude::*;

pub fn id() -> ColumnDef {
    ColumnDef::new(Alias::new("id")).uuid().not_null().primary_key().to_owned()
}

pub fn col(name: &str) -> ColumnDef {
    ColumnDef::new(Alias::new(name))
}

pub fn ts(name: &str) -> ColumnDef {
    col(name).timestamp_with_time_zone().not_null().to_owned()
}

pub fn ts_null(name: &str) -> ColumnDef {
    col(name).timestamp_with_time_zone().null().to_owned()
}

/// A cascading foreign key `table.column -> to.id`.
pub fn fk(table: &str, column: &str, to: &str) -> ForeignKeyCreateStatement {
    ForeignKey::create()
        .name(format!("fk_{table}_{column}"))
        .from(Alias::new(table), Alias::new(column))
        .to(Alias::new(to), Alias::new("id"))
        .on_delete(ForeignKeyAction::Cascade)
        .to_owned()
}

pub fn index(name: &str, table: &str, cols: &[&str]) -> IndexCreateStatement {
    let mut i = Index::create();
    i.name(name).table(Alias::new(table));
    for c in cols {
        i.col(Alias::new(*c));
    }
    i.to_owned()
}

pub fn unique(name: &str, table: &str, cols: &[&str]) -> IndexCreateStatement {
    index(name, table, cols).unique().to_owned()
}

/// Adds one column to a table (SQLite alters one column per statement).
pub async fn add_column(manager: &SchemaManager<'_>, table: &str, column: ColumnDef) -> Result<(), DbErr> {
    manager.alter_table(Table::alter().table(Alias::new(table)).add_column(column).to_owned()).await
}
