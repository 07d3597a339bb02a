//! `kri access`, `kri admins` and `kri tokens`: the identity graph's everyday
//! questions, answered by `KriHost` (`kri_host::graph_questions`) and printed as a
//! table for people, or as JSON or CSV (`-o`).

use anyhow::{Context, Result};
use kri_host::graph::action_type;
use kri_host::graph_questions::{Access, AdminGrant, TokenInfo};

use crate::output::{self, Format};
use crate::table::Table;
use crate::{open_records, Cli};

/// Whom `kri access` asks about.
pub enum Who<'a> {
    /// A user's login.
    User(&'a str),
    /// An app's label.
    App(&'a str),
}

/// An action type in words, for the ACCESS column.
fn access_words(a: &Access) -> &'static str {
    match a.action_type.as_str() {
        action_type::APP_ASSIGNMENT => "app assignment",
        action_type::GROUP_MEMBERSHIP => "group membership",
        action_type::ADMIN_ROLE => "admin role",
        _ => "other",
    }
}

/// `-` for what the graph does not say.
fn or_dash(v: Option<&str>) -> String {
    v.unwrap_or("-").to_string()
}

pub async fn access(cli: &Cli, tenant: &str, who: Who<'_>, format: Format) -> Result<()> {
    let host = open_records(cli).await?;
    let (rows, nothing) = match who {
        Who::User(login) => (
            host.access_of_user(tenant, login)
                .await
                .with_context(|| format!("cannot show what `{login}` reaches"))?,
            format!("{login} reaches no app, group or admin scope"),
        ),
        Who::App(label) => (
            host.access_to_app(tenant, label)
                .await
                .with_context(|| format!("cannot show who reaches `{label}`"))?,
            format!("no user reaches {label}"),
        ),
    };
    if format == Format::Json {
        return output::json(&rows);
    }
    if rows.is_empty() && format == Format::Table {
        return output::line(&nothing);
    }
    let mut t = match who {
        Who::User(_) => Table::new(&["RESOURCE", "KIND", "ACCESS", "THROUGH"]),
        Who::App(_) => Table::new(&["USER", "ACCESS", "THROUGH"]),
    };
    for r in &rows {
        let mut cells = match who {
            Who::User(_) => vec![r.resource.clone(), r.resource_kind.clone()],
            Who::App(_) => vec![r.identity.clone()],
        };
        cells.push(access_words(r).to_string());
        cells.push(r.through());
        t.row(cells);
    }
    output::table(&t, format)
}

pub async fn admins(cli: &Cli, tenant: &str, format: Format) -> Result<()> {
    let host = open_records(cli).await?;
    let grants: Vec<AdminGrant> = host
        .admins(tenant)
        .await
        .with_context(|| format!("cannot list the admins of tenant `{tenant}`"))?;
    if format == Format::Json {
        return output::json(&grants);
    }
    if grants.is_empty() && format == Format::Table {
        return output::line(&format!("no admin roles in the graph of {tenant}"));
    }
    let mut t = Table::new(&[
        "USER",
        "STATUS",
        "ROLE",
        "ROLE KIND",
        "VIA GROUP",
        "SCOPE KIND",
        "SCOPE",
    ]);
    for g in grants {
        t.row(vec![
            g.user,
            or_dash(g.user_status.as_deref()),
            g.role,
            or_dash(Some(g.role_kind.as_str()).filter(|k| !k.is_empty())),
            or_dash(g.via_group.as_deref()),
            g.scope_kind,
            g.scope,
        ]);
    }
    output::table(&t, format)
}

pub async fn tokens(cli: &Cli, tenant: &str, now: Option<i64>, format: Format) -> Result<()> {
    let now_ms = match now {
        Some(ms) => ms,
        None => jiff::Timestamp::now().as_millisecond(),
    };
    let host = open_records(cli).await?;
    let tokens: Vec<TokenInfo> = host
        .tokens(tenant, now_ms)
        .await
        .with_context(|| format!("cannot list the API tokens of tenant `{tenant}`"))?;
    if format == Format::Json {
        return output::json(&tokens);
    }
    if tokens.is_empty() && format == Format::Table {
        return output::line(&format!("no API tokens in the graph of {tenant}"));
    }
    let mut t = Table::new(&[
        "TOKEN",
        "OWNER",
        "OWNER STATUS",
        "OWNER ROLES",
        "NETWORK",
        "AGE",
        "LAST USED",
        "EXPIRES",
    ]);
    for k in tokens {
        t.row(vec![
            k.token,
            or_dash(k.owner.as_deref()),
            or_dash(k.owner_status.as_deref()),
            if k.owner_roles.is_empty() {
                "-".to_string()
            } else {
                k.owner_roles.join(",")
            },
            or_dash(k.network.as_deref()),
            k.age_days
                .map_or_else(|| "-".to_string(), |d| format!("{d}d")),
            or_dash(k.last_used.as_deref()),
            or_dash(k.expires_at.as_deref()),
        ]);
    }
    output::table(&t, format)
}
