//! Renders the org's structs into the JSON shapes real Okta returns (checked against
//! shared/okta-fixtures beside the project root): users, factors, app links, apps, groups, policies and
//! rules, API tokens, admin assignees, roles and System Log events. The identity graph's
//! other shapes (role targets, IAM lists, app users and groups) are in `render_graph.rs`.
//!
//! Users and events, the bulk of the traffic, go through borrowed `Serialize` structs
//! written straight into the output buffer; the small, irregular objects use `json!`.
//! Every `_links` href uses the server's base URL so clients can follow them.

use serde::ser::{SerializeMap, Serializer};
use serde::Serialize;
use serde_json::{json, Value};

use crate::catalog::AUTHENTICATOR_NAMES;
use crate::catalog::{Agent, City, AGENTS, APP_TEMPLATES, CITIES, DEVICES, QUESTIONS};
use crate::ids::{mix64, session_string, uuid_string};
use crate::model::*;
use crate::time::format_ms;

/// Object timestamps (users, factors, apps, ...) have whole seconds in Okta: `…:19.000Z`.
pub(crate) fn ts(ms: i64) -> String {
    format_ms(ms - ms.rem_euclid(1000))
}

fn ts_opt(ms: Option<i64>) -> Option<String> {
    ms.map(ts)
}

/// A `_links` object: name → `{"href": ..., "method": ...}`.
struct Links(Vec<(&'static str, String, LinkExtra)>);

enum LinkExtra {
    None,
    Method(&'static str),
}

impl Serialize for Links {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Link<'a> {
            href: &'a str,
            #[serde(skip_serializing_if = "Option::is_none")]
            method: Option<&'static str>,
        }
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, href, extra) in &self.0 {
            let method = match extra {
                LinkExtra::None => None,
                LinkExtra::Method(m) => Some(*m),
            };
            map.serialize_entry(name, &Link { href, method })?;
        }
        map.end()
    }
}

/// An object whose keys keep their order.
struct Ordered<'a>(Vec<(&'a str, &'a str)>);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct IdRef<'a> {
    id: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireProfile<'a> {
    first_name: &'a str,
    last_name: &'a str,
    mobile_phone: Option<&'a str>,
    second_email: Option<&'a str>,
    login: &'a str,
    email: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    title: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    department: Option<&'a str>,
}

#[derive(Serialize)]
struct Empty {}

#[derive(Serialize)]
struct WireEmail<'a> {
    value: &'a str,
    status: &'static str,
    #[serde(rename = "type")]
    kind: &'static str,
}

#[derive(Serialize)]
struct WireQuestion {
    question: &'static str,
}

#[derive(Serialize)]
struct WireProvider<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    name: &'a str,
}

#[derive(Serialize)]
struct WireCredentials<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<Empty>,
    emails: [WireEmail<'a>; 1],
    #[serde(skip_serializing_if = "Option::is_none")]
    recovery_question: Option<WireQuestion>,
    provider: WireProvider<'a>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireUser<'a> {
    id: &'a str,
    status: &'static str,
    created: String,
    activated: Option<String>,
    status_changed: Option<String>,
    last_login: Option<String>,
    last_updated: String,
    password_changed: Option<String>,
    #[serde(rename = "type")]
    user_type: IdRef<'a>,
    profile: WireProfile<'a>,
    credentials: WireCredentials<'a>,
    #[serde(rename = "_links")]
    links: Links,
}

/// Renders the org's objects for one server (its base URL goes into every link).
pub struct Renderer<'a> {
    pub org: &'a Org,
    pub base: &'a str,
}

impl<'a> Renderer<'a> {
    /// A renderer for `org` with links under `base` (e.g. `http://127.0.0.1:8080`).
    pub fn new(org: &'a Org, base: &'a str) -> Self {
        Renderer { org, base }
    }

    fn user_wire<'u>(&'u self, user: &'u User, detailed: bool) -> WireUser<'u> {
        let base = self.base;
        let self_href = format!("{base}/api/v1/users/{}", user.id);
        let mut links = Vec::new();
        if detailed {
            let life = |action: &str| format!("{self_href}/lifecycle/{action}");
            let post = LinkExtra::Method("POST");
            let post2 = || LinkExtra::Method("POST");
            match user.status {
                UserStatus::Active => {
                    links.push(("suspend", life("suspend"), post));
                    links.push(("resetPassword", life("reset_password"), post2()));
                    links.push(("expirePassword", life("expire_password"), post2()));
                    links.push((
                        "forgotPassword",
                        format!("{self_href}/credentials/forgot_password"),
                        post2(),
                    ));
                    links.push((
                        "changeRecoveryQuestion",
                        format!("{self_href}/credentials/change_recovery_question"),
                        post2(),
                    ));
                    links.push((
                        "changePassword",
                        format!("{self_href}/credentials/change_password"),
                        post2(),
                    ));
                }
                UserStatus::Suspended => links.push(("unsuspend", life("unsuspend"), post)),
                UserStatus::Staged | UserStatus::Deprovisioned => {
                    links.push(("activate", life("activate"), post))
                }
                UserStatus::Provisioned => links.push(("reactivate", life("reactivate"), post)),
                UserStatus::LockedOut => links.push(("unlock", life("unlock"), post)),
                UserStatus::PasswordExpired | UserStatus::Recovery => {
                    links.push(("resetPassword", life("reset_password"), post))
                }
            }
            links.push((
                "schema",
                format!(
                    "{base}/api/v1/meta/schemas/user/osc{}",
                    &self.org.user_type_id[3..]
                ),
                LinkExtra::None,
            ));
            links.push((
                "type",
                format!("{base}/api/v1/meta/types/user/{}", self.org.user_type_id),
                LinkExtra::None,
            ));
            if user.status != UserStatus::Deprovisioned {
                links.push((
                    "resetFactors",
                    life("reset_factors"),
                    LinkExtra::Method("POST"),
                ));
                links.push(("deactivate", life("deactivate"), LinkExtra::Method("POST")));
            } else {
                links.push(("delete", self_href.clone(), LinkExtra::Method("DELETE")));
            }
        }
        links.push(("self", self_href, LinkExtra::None));
        let has_password = user.provider == CredentialProvider::Okta
            && user.password_changed_ms.is_some()
            && user.status != UserStatus::Provisioned;
        let provider = match user.provider {
            CredentialProvider::Okta => WireProvider {
                kind: "OKTA",
                name: "OKTA",
            },
            CredentialProvider::ActiveDirectory => WireProvider {
                kind: "ACTIVE_DIRECTORY",
                name: "corp.example.com",
            },
        };
        WireUser {
            id: &user.id,
            status: user.status.as_str(),
            created: ts(user.created_ms),
            activated: ts_opt(user.activated_ms),
            status_changed: ts_opt(user.status_changed_ms),
            last_login: ts_opt(user.last_login_ms),
            last_updated: ts(user.last_updated_ms),
            password_changed: ts_opt(user.password_changed_ms),
            user_type: IdRef {
                id: &self.org.user_type_id,
            },
            profile: WireProfile {
                first_name: &user.first_name,
                last_name: &user.last_name,
                mobile_phone: user.mobile_phone.as_deref(),
                second_email: None,
                login: &user.login,
                email: &user.login,
                title: user.title,
                department: user.department,
            },
            credentials: WireCredentials {
                password: has_password.then_some(Empty {}),
                emails: [WireEmail {
                    value: &user.login,
                    status: if user.status == UserStatus::Staged {
                        "UNVERIFIED"
                    } else {
                        "VERIFIED"
                    },
                    kind: "PRIMARY",
                }],
                recovery_question: user.recovery_question.map(|q| WireQuestion {
                    question: QUESTIONS[q as usize % QUESTIONS.len()].1,
                }),
                provider,
            },
            links: Links(links),
        }
    }

    /// One user as the list endpoint shows it (`_links.self` only), or as
    /// `GET /api/v1/users/{id}` shows it (lifecycle links) when `detailed`.
    pub fn user(&self, out: &mut Vec<u8>, user: &User, detailed: bool) {
        serde_json::to_writer(out, &self.user_wire(user, detailed))
            .expect("serialising into a Vec cannot fail");
    }

    pub(crate) fn user_href(&self, user: &User) -> String {
        format!("{}/api/v1/users/{}", self.base, user.id)
    }

    /// One factor in the shape of `GET /api/v1/users/{id}/factors`.
    fn factor_wire<'u>(&self, user: &'u User, factor: &'u Factor) -> WireFactor<'u> {
        let user_href = self.user_href(user);
        let self_href = format!("{user_href}/factors/{}", factor.id);
        let variant = factor.variant as usize;
        let device = DEVICES[variant % DEVICES.len()];
        let hex2 = |a: u64, b: u64| format!("{:016x}{:016x}", mix64(a), mix64(b));
        let profile = match factor.factor_type {
            FactorType::Question => {
                let (question, text) = QUESTIONS[variant % QUESTIONS.len()];
                FactorProfile::Question {
                    question,
                    question_text: text,
                }
            }
            FactorType::Sms => FactorProfile::Phone {
                phone_number: phone(factor),
                phone_extension: None,
            },
            FactorType::Call => FactorProfile::Phone {
                phone_number: phone(factor),
                phone_extension: Some(""),
            },
            FactorType::Email => FactorProfile::Email { email: &user.login },
            FactorType::SoftwareTotp | FactorType::Token => FactorProfile::Credential {
                credential_id: user.login.clone(),
            },
            FactorType::HardwareToken => FactorProfile::Credential {
                credential_id: format!("cccccc{:08}", mix64(variant as u64) % 100_000_000),
            },
            FactorType::Push | FactorType::SignedNonce => FactorProfile::Device {
                credential_id: &user.login,
                device_type: device.0,
                keys: [DeviceKey {
                    kty: "EC",
                    key_use: "sig",
                    kid: "default",
                    x: hex2(variant as u64 ^ 11, factor.created_ms as u64),
                    y: hex2(variant as u64 ^ 13, factor.last_updated_ms as u64),
                    crv: "P-256",
                }],
                name: device.1,
                platform: device.2,
                version: device.3,
            },
            FactorType::Webauthn => FactorProfile::Webauthn {
                credential_id: hex2(factor.created_ms as u64, variant as u64),
                authenticator_name: AUTHENTICATOR_NAMES[variant % AUTHENTICATOR_NAMES.len()],
            },
            FactorType::U2f => FactorProfile::U2f {
                credential_id: format!("{:016x}", mix64(factor.created_ms as u64 ^ 7)),
                version: "U2F_V2",
            },
        };
        let link = |href: String, allow: &'static [&'static str]| {
            FactorLink::One(HintedLink {
                name: None,
                href,
                hints: Hints { allow },
            })
        };
        let mut links: Vec<(&'static str, FactorLink)> = Vec::with_capacity(4);
        match factor.status {
            FactorStatus::PendingActivation => {
                if matches!(
                    factor.factor_type,
                    FactorType::Sms | FactorType::Call | FactorType::Email
                ) {
                    links.push((
                        "resend",
                        FactorLink::Many(vec![HintedLink {
                            name: Some(factor.factor_type.as_str()),
                            href: format!("{self_href}/resend"),
                            hints: Hints { allow: &["POST"] },
                        }]),
                    ));
                }
                links.push((
                    "activate",
                    link(format!("{self_href}/lifecycle/activate"), &["POST"]),
                ));
                links.push(("self", link(self_href, &["GET"])));
            }
            FactorStatus::Active => {
                if factor.factor_type == FactorType::Question {
                    links.push((
                        "questions",
                        link(format!("{user_href}/factors/questions"), &["GET"]),
                    ));
                } else {
                    links.push(("verify", link(format!("{self_href}/verify"), &["POST"])));
                }
                links.push(("self", link(self_href, &["GET", "DELETE"])));
            }
            _ => links.push(("self", link(self_href, &["GET", "DELETE"]))),
        }
        links.push(("user", link(user_href, &["GET"])));
        let embedded = (factor.status == FactorStatus::PendingActivation
            && factor.factor_type == FactorType::SoftwareTotp)
            .then(|| {
                let secret: String = format!(
                    "{:016X}{:016X}",
                    mix64(variant as u64),
                    mix64(factor.created_ms as u64)
                )
                .chars()
                .map(|c| {
                    if c.is_ascii_digit() && !('2'..='7').contains(&c) {
                        'Q'
                    } else {
                        c
                    }
                })
                .take(17)
                .collect();
                Embedded {
                    activation: Activation {
                        time_step: 30,
                        shared_secret: secret,
                        encoding: "base32",
                        key_length: 16,
                    },
                }
            });
        WireFactor {
            id: &factor.id,
            factor_type: factor.factor_type.as_str(),
            provider: factor.provider.as_str(),
            vendor_name: factor.provider.as_str(),
            status: factor.status.as_str(),
            created: ts(factor.created_ms),
            last_updated: ts(factor.last_updated_ms),
            profile,
            links: OrderedLinks(links),
            embedded,
        }
    }

    /// One factor as JSON.
    pub fn factor(&self, user: &User, factor: &Factor) -> Value {
        serde_json::to_value(self.factor_wire(user, factor)).expect("a factor serialises")
    }

    /// `GET /api/v1/users/{id}/factors`.
    pub fn factors(&self, out: &mut Vec<u8>, user: &User) {
        let list: Vec<WireFactor<'_>> = user
            .factors
            .iter()
            .map(|f| self.factor_wire(user, f))
            .collect();
        serde_json::to_writer(out, &list).expect("serialising into a Vec cannot fail");
    }

    /// `GET /api/v1/users/{id}/appLinks`.
    pub fn app_links(&self, out: &mut Vec<u8>, user: &User) {
        let base = self.base;
        let list: Vec<WireAppLink<'_>> = user
            .app_links
            .iter()
            .map(|link| {
                let app = &self.org.apps[link.app as usize];
                let template = &APP_TEMPLATES[app.template as usize];
                let link_name = template
                    .links
                    .get(link.link as usize)
                    .copied()
                    .unwrap_or("login");
                let label = if template.links.len() > 1 {
                    let mut pretty = link_name.to_string();
                    if let Some(first) = pretty.get_mut(0..1) {
                        first.make_ascii_uppercase();
                    }
                    format!("{} {pretty}", app.label)
                } else {
                    app.label.clone()
                };
                WireAppLink {
                    id: &user.id,
                    label,
                    link_url: format!(
                        "{base}/home/{}/{}/{}",
                        template.name,
                        app.id,
                        app.link_number + u16::from(link.link)
                    ),
                    logo_url: format!("{base}/img/logos/{}.png", template.logo),
                    app_name: template.name,
                    app_instance_id: &app.id,
                    app_assignment_id: &link.assignment_id,
                    credentials_setup: link.credentials_setup,
                    hidden: link.hidden,
                    sort_order: link.sort_order,
                }
            })
            .collect();
        serde_json::to_writer(out, &list).expect("serialising into a Vec cannot fail");
    }

    /// `GET /api/v1/users/{id}/roles`: the user's own roles (`assignmentType` USER) and
    /// their groups' roles (`assignmentType` GROUP, linking to the group).
    pub fn roles(&self, out: &mut Vec<u8>, index: usize) {
        let user = &self.org.users[index];
        let list: Vec<Value> = self
            .org
            .held_roles(index as u32)
            .iter()
            .map(|held| {
                let assignee = match held.via_group {
                    None => self.user_href(user),
                    Some(g) => format!(
                        "{}/api/v1/groups/{}",
                        self.base, self.org.groups[g as usize].id
                    ),
                };
                self.role_assignment(
                    &held.assignment_id,
                    held.role,
                    &held.scope,
                    held.assigned_ms,
                    if held.via_group.is_some() {
                        "GROUP"
                    } else {
                        "USER"
                    },
                    &assignee,
                )
            })
            .collect();
        serde_json::to_writer(out, &list).expect("serialising into a Vec cannot fail");
    }

    /// One app as `GET /api/v1/apps` shows it.
    pub fn app(&self, app: &App) -> Value {
        let base = self.base;
        let template = &APP_TEMPLATES[app.template as usize];
        let app_href = format!("{base}/api/v1/apps/{}", app.id);
        let app_links: serde_json::Map<String, Value> = template
            .links
            .iter()
            .map(|l| ((*l).to_string(), Value::Bool(true)))
            .collect();
        let link_list: Vec<Value> = template
            .links
            .iter()
            .enumerate()
            .map(|(i, l)| {
                json!({
                    "name": l,
                    "href": format!("{base}/home/{}/{}/{}", template.name, app.id, app.link_number + i as u16),
                    "type": "text/html"
                })
            })
            .collect();
        let (credentials, sign_on) = match template.sign_on_mode {
            "SAML_2_0" | "WS_FEDERATION" => (
                json!({
                    "userNameTemplate": { "template": "${source.login}", "type": "BUILT_IN" },
                    "signing": { "kid": format!("{:016x}{:016x}", mix64(self.org.seed), mix64(app.created_ms as u64)) }
                }),
                json!({
                    "defaultRelayState": null,
                    "ssoAcsUrlOverride": null,
                    "audienceOverride": null,
                    "recipientOverride": null,
                    "destinationOverride": null,
                    "attributeStatements": []
                }),
            ),
            "BROWSER_PLUGIN" => (
                json!({
                    "scheme": "EDIT_USERNAME_AND_PASSWORD",
                    "userNameTemplate": { "template": "${source.login}", "type": "BUILT_IN" }
                }),
                Value::Null,
            ),
            _ => (
                json!({ "userNameTemplate": { "template": "${source.login}", "type": "BUILT_IN" } }),
                Value::Null,
            ),
        };
        let mut settings = json!({
            "app": {},
            "notifications": {
                "vpn": { "network": { "connection": "DISABLED" }, "message": null, "helpUrl": null }
            }
        });
        if !sign_on.is_null() {
            settings["signOn"] = sign_on;
        }
        let mut links = json!({
            "help": {
                "href": format!("{base}/app/{}/{}/setup/help/{}/external-doc", template.name, app.id, template.sign_on_mode),
                "type": "text/html"
            },
            "appLinks": link_list,
            "groups": { "href": format!("{app_href}/groups") },
            "logo": [{ "name": "medium", "href": format!("{base}/img/logos/{}.png", template.logo), "type": "image/png" }],
            "users": { "href": format!("{app_href}/users") },
        });
        if app.active {
            links["deactivate"] = json!({ "href": format!("{app_href}/lifecycle/deactivate") });
        } else {
            links["activate"] = json!({ "href": format!("{app_href}/lifecycle/activate") });
        }
        if template.sign_on_mode == "SAML_2_0" {
            links["metadata"] = json!({
                "href": format!("{app_href}/sso/saml/metadata"),
                "type": "application/xml"
            });
        }
        json!({
            "id": app.id,
            "orn": format!("orn:okta:idp:{}:apps:{}:{}", self.org.org_id, template.name, app.id),
            "name": template.name,
            "label": app.label,
            "status": if app.active { "ACTIVE" } else { "INACTIVE" },
            "lastUpdated": ts(app.last_updated_ms),
            "created": ts(app.created_ms),
            "accessibility": { "selfService": false, "errorRedirectUrl": null, "loginRedirectUrl": null },
            "visibility": {
                "autoSubmitToolbar": false,
                "hide": { "iOS": false, "web": template.links.is_empty() },
                "appLinks": app_links
            },
            "features": [],
            "signOnMode": template.sign_on_mode,
            "credentials": credentials,
            "settings": settings,
            "_links": links,
        })
    }

    /// One group as `GET /api/v1/groups` shows it.
    pub fn group(&self, group: &Group) -> Value {
        let base = self.base;
        let href = format!("{base}/api/v1/groups/{}", group.id);
        let (kind, object_class, logo) = match group.kind {
            GroupKind::BuiltIn => ("BUILT_IN", "okta:user_group", "okta"),
            GroupKind::OktaGroup => ("OKTA_GROUP", "okta:user_group", "okta"),
            GroupKind::AppGroup => (
                "APP_GROUP",
                "okta:windows_security_principal",
                "active_directory",
            ),
        };
        let mut profile = json!({ "name": group.name, "description": group.description });
        if group.kind == GroupKind::AppGroup {
            profile["groupType"] = json!("Security");
            profile["samAccountName"] = json!(group.name);
            profile["groupScope"] = json!("Global");
            profile["dn"] = json!(format!(
                "CN={},OU=Groups,DC=corp,DC=example,DC=com",
                group.name
            ));
            profile["windowsDomainQualifiedName"] = json!(format!("CORP\\{}", group.name));
        }
        let mut links = json!({
            "logo": [
                { "name": "medium", "href": format!("{base}/img/logos/groups/{logo}-medium.png"), "type": "image/png" },
                { "name": "large", "href": format!("{base}/img/logos/groups/{logo}-large.png"), "type": "image/png" }
            ],
            "users": { "href": format!("{href}/users") },
            "apps": { "href": format!("{href}/apps") }
        });
        if let Some(source) = &group.source_app_id {
            links["source"] = json!({ "href": format!("{base}/api/v1/apps/{source}") });
        }
        json!({
            "id": group.id,
            "created": ts(group.created_ms),
            "lastUpdated": ts(group.last_updated_ms),
            "lastMembershipUpdated": ts(group.last_membership_updated_ms),
            "objectClass": [object_class],
            "type": kind,
            "profile": profile,
            "_links": links,
        })
    }

    /// One ACCESS_POLICY as `GET /api/v1/policies?type=ACCESS_POLICY` shows it.
    pub fn policy(&self, policy: &Policy) -> Value {
        let href = format!("{}/api/v1/policies/{}", self.base, policy.id);
        let mut links = serde_json::Map::new();
        if !policy.system {
            links.insert(
                "mappings".into(),
                json!({ "href": format!("{href}/mappings"), "hints": { "allow": ["GET", "POST"] } }),
            );
        }
        let self_allow: &[&str] = if policy.system {
            &["GET", "PUT"]
        } else {
            &["GET", "PUT", "DELETE"]
        };
        links.insert(
            "self".into(),
            json!({ "href": href, "hints": { "allow": self_allow } }),
        );
        links.insert(
            "rules".into(),
            json!({ "href": format!("{href}/rules"), "hints": { "allow": ["GET", "POST"] } }),
        );
        if !policy.system {
            let action = if policy.status == ActiveStatus::Active {
                "deactivate"
            } else {
                "activate"
            };
            links.insert(
                action.into(),
                json!({ "href": format!("{href}/lifecycle/{action}"), "hints": { "allow": ["POST"] } }),
            );
        }
        let mut value = json!({
            "id": policy.id,
            "status": policy.status.as_str(),
            "name": policy.name,
        });
        if let Some(d) = &policy.description {
            value["description"] = json!(d);
        }
        value["priority"] = json!(1);
        value["system"] = json!(policy.system);
        value["conditions"] = Value::Null;
        value["created"] = json!(ts(policy.created_ms));
        value["lastUpdated"] = json!(ts(policy.last_updated_ms));
        value["_links"] = Value::Object(links);
        value["_embedded"] = json!({ "resourceType": "APP" });
        value["type"] = json!("ACCESS_POLICY");
        value
    }

    /// One rule as `GET /api/v1/policies/{id}/rules` shows it.
    pub fn rule(&self, policy: &Policy, rule: &PolicyRule) -> Value {
        const REAUTH: [&str; 5] = ["PT12H", "PT2H", "PT0S", "PT43800H", "PT1H"];
        let href = format!(
            "{}/api/v1/policies/{}/rules/{}",
            self.base, policy.id, rule.id
        );
        let mut app_sign_on = json!({
            "access": match rule.access { RuleAccess::Allow => "ALLOW", RuleAccess::Deny => "DENY" },
        });
        match rule.verification {
            Verification::Absent => {}
            Verification::Null => app_sign_on["verificationMethod"] = Value::Null,
            Verification::Assurance {
                factor_mode,
                reauthenticate,
                constraints,
                inactivity_period,
            } => {
                let mut vm = json!({
                    "factorMode": factor_mode.as_str(),
                    "type": "ASSURANCE",
                    "reauthenticateIn": REAUTH[reauthenticate as usize % REAUTH.len()],
                });
                if inactivity_period {
                    vm["inactivityPeriod"] = json!("PT1H");
                }
                let c = match constraints {
                    Constraints::Missing => None,
                    Constraints::EmptyList => Some(json!([])),
                    Constraints::EmptyObjectList => Some(json!([{}])),
                    Constraints::PhishingResistant => Some(json!([{
                        "possession": { "phishingResistant": "REQUIRED", "userVerification": "OPTIONAL" }
                    }])),
                    Constraints::DeviceBound => Some(json!([{
                        "possession": { "required": true, "deviceBound": "REQUIRED" }
                    }])),
                    Constraints::KnowledgeAndPossession => Some(json!([{
                        "knowledge": { "required": true, "types": ["password"], "reauthenticateIn": "PT2H" },
                        "possession": {
                            "required": true,
                            "authenticationMethods": [{ "key": "okta_verify", "method": "push" }],
                            "userPresence": "OPTIONAL"
                        }
                    }])),
                };
                if let Some(c) = c {
                    vm["constraints"] = c;
                }
                app_sign_on["verificationMethod"] = vm;
            }
            Verification::AuthMethodChain => {
                app_sign_on["verificationMethod"] = json!({
                    "type": "AUTH_METHOD_CHAIN",
                    "chains": [
                        {
                            "authenticationMethods": [{ "key": "webauthn", "userVerification": "REQUIRED", "method": "webauthn" }],
                            "reauthenticateIn": "PT43800H"
                        },
                        {
                            "authenticationMethods": [{ "key": "okta_password", "method": "password" }],
                            "next": [{
                                "authenticationMethods": [
                                    { "key": "google_otp", "method": "otp" },
                                    { "key": "webauthn", "userVerification": "REQUIRED", "method": "webauthn" }
                                ],
                                "reauthenticateIn": "PT43800H"
                            }],
                            "reauthenticateIn": "PT43800H"
                        }
                    ]
                });
            }
        }
        match rule.keep_me_signed_in {
            KeepMeSignedIn::Missing => {}
            KeepMeSignedIn::NotAllowed => {
                app_sign_on["keepMeSignedIn"] = json!({ "postAuth": "NOT_ALLOWED" })
            }
            KeepMeSignedIn::Allowed => {
                app_sign_on["keepMeSignedIn"] =
                    json!({ "postAuth": "ALLOWED", "postAuthPromptFrequency": "PT168H" })
            }
        }
        let conditions = match rule.conditions {
            RuleConditions::Null => Value::Null,
            RuleConditions::Basic { risk_score } => {
                let mut c = json!({
                    "people": { "users": { "exclude": [] } },
                    "network": { "connection": "ANYWHERE" },
                    "userType": { "include": [], "exclude": [] }
                });
                if risk_score {
                    c["riskScore"] = json!({ "level": "ANY" });
                }
                c
            }
            RuleConditions::GroupsAndZone => {
                let group = self.org.groups.get(1).or(self.org.groups.first());
                let gid = group.map(|g| g.id.as_str()).unwrap_or("");
                json!({
                    "people": { "users": { "exclude": [] }, "groups": { "include": [gid] } },
                    "network": { "connection": "ZONE", "exclude": [format!("nzo{}", &policy.id[3..])] },
                    "riskScore": { "level": "ANY" },
                    "userType": { "include": [], "exclude": [] }
                })
            }
            RuleConditions::Device => json!({
                "userType": { "include": [], "exclude": [] },
                "network": { "connection": "ANYWHERE" },
                "people": { "users": { "exclude": [], "include": [] }, "groups": { "include": [], "exclude": [] } },
                "device": { "registered": true, "managed": true, "assurance": { "include": [format!("dae{}", &rule.id[3..])] } },
                "riskScore": { "level": "ANY" },
                "platform": { "include": [] },
                "elCondition": {}
            }),
        };
        let mut links = serde_json::Map::new();
        if rule.status == ActiveStatus::Inactive {
            links.insert(
                "activate".into(),
                json!({ "href": format!("{href}/lifecycle/activate"), "hints": { "allow": ["POST"] } }),
            );
        }
        let allow: &[&str] = if rule.system {
            &["GET", "PUT"]
        } else {
            &["GET", "PUT", "DELETE"]
        };
        links.insert(
            "self".into(),
            json!({ "href": href, "hints": { "allow": allow } }),
        );
        if rule.status == ActiveStatus::Active && !rule.system {
            links.insert(
                "deactivate".into(),
                json!({ "href": format!("{href}/lifecycle/deactivate"), "hints": { "allow": ["POST"] } }),
            );
        }
        let mut value = json!({
            "id": rule.id,
            "status": rule.status.as_str(),
            "name": rule.name,
            "priority": rule.priority,
            "created": ts(rule.created_ms),
            "lastUpdated": ts(rule.last_updated_ms),
            "system": rule.system,
            "conditions": conditions,
            "actions": { "appSignOn": app_sign_on },
            "_links": Value::Object(links),
            "type": "ACCESS_POLICY",
        });
        if rule.unknown_field {
            // A field no client knows: parsers must ignore it.
            value["actions"]["appSignOn"]["identityThreatResponse"] =
                json!({ "mode": "MONITOR", "signals": ["SESSION_INFLUENCE"] });
            value["riskProfile"] =
                json!({ "level": "ELEVATED", "evaluatedAt": ts(rule.last_updated_ms) });
        }
        value
    }

    /// One API token as `GET /api/v1/api-tokens` shows it.
    pub fn api_token(&self, token: &ApiToken) -> Value {
        let base = self.base;
        let mut value = json!({
            "id": token.id,
            "name": token.name,
            "userId": token.user_id,
            "clientName": "Okta API",
            "tokenWindow": token.token_window,
        });
        if token.network_anywhere {
            value["network"] = json!({ "connection": "ANYWHERE" });
        } else if !token.network_zones.is_empty() {
            value["network"] = json!({
                "connection": "ZONE",
                "include": token.network_zones,
                "exclude": []
            });
        }
        value["expiresAt"] = json!(ts(token.expires_ms));
        value["created"] = json!(ts(token.created_ms));
        value["lastUpdated"] = json!(ts(token.last_updated_ms));
        value["_links"] = json!({
            "self": { "href": format!("{base}/api/v1/api-tokens/{}", token.id), "hints": { "allow": ["GET", "DELETE"] } },
            "user": { "href": format!("{base}/api/v1/users/{}", token.user_id), "hints": { "allow": ["GET"] } }
        });
        value
    }

    /// One entry of `GET /api/v1/iam/assignees/users`.
    pub fn assignee(&self, user: &User) -> Value {
        let href = self.user_href(user);
        json!({
            "id": user.id,
            "orn": format!("orn:okta:directory:{}:users:{}", self.org.org_id, user.id),
            "_links": {
                "self": { "href": href },
                "roles": { "href": format!("{href}/roles") }
            }
        })
    }

    /// One System Log event in the LogEvent shape.
    pub fn event(&self, out: &mut Vec<u8>, event: &LogEvent) {
        let org = self.org;
        let city = &CITIES[event.city as usize % CITIES.len()];
        let agent = &AGENTS[event.agent as usize % AGENTS.len()];
        let ip = format!(
            "{}.{}.{}.{}",
            city.ip_prefix.0,
            city.ip_prefix.1,
            event.ip_host >> 8,
            (event.ip_host & 0xff).max(1)
        );
        let geo = geo(city);
        let actor = match event.actor {
            Actor::User(u) => {
                let user = &org.users[u as usize];
                WireActor {
                    id: &user.id,
                    kind: "User",
                    alternate_id: &user.login,
                    display_name: user.display_name(),
                    detail_entry: None,
                }
            }
            Actor::System => WireActor {
                id: "0oa1systemprincipal0",
                kind: "SystemPrincipal",
                alternate_id: "system@okta.com",
                display_name: "Okta System".into(),
                detail_entry: None,
            },
        };
        let session = session_string(event.session);
        let idx = session.starts_with("idx");
        let uuid = uuid_string(event.uuid);
        let request_id = format!(
            "{:016x}{:016x}",
            mix64(event.uuid as u64),
            mix64((event.uuid >> 64) as u64)
        );
        let mut debug = DebugData {
            request_id: &request_id,
            ..DebugData::default()
        };
        let target_user_id = event
            .target
            .user()
            .map(|u| org.users[u as usize].id.as_str());
        let request_uri = match event.kind {
            EventKind::SessionStart if idx => "/idp/idx/identify".to_string(),
            EventKind::SessionStart => "/api/v1/authn".to_string(),
            EventKind::SessionEnd => "/login/signout".to_string(),
            EventKind::PolicyEvaluateSignOn | EventKind::AuthViaMfa if idx => {
                "/idp/idx/challenge/answer".to_string()
            }
            EventKind::PolicyEvaluateSignOn | EventKind::AuthenticationVerify => {
                "/api/v1/authn".to_string()
            }
            EventKind::AuthViaMfa | EventKind::OktaVerifyDenyPush => {
                format!("/api/v1/authn/factors/{}/verify", &request_id[..20])
            }
            EventKind::AuthenticationSso => match event.target {
                Target::AppSso { app, .. } => {
                    let a = &org.apps[app as usize];
                    format!(
                        "/app/{}/{}/sso/saml",
                        APP_TEMPLATES[a.template as usize].name, a.id
                    )
                }
                _ => "/app/sso".to_string(),
            },
            EventKind::AccessAdminApp => "/admin/sso/callback".to_string(),
            EventKind::ApiTokenCreate => "/api/internal/tokens".to_string(),
            EventKind::ApiTokenRevoke => match event.target {
                Target::Token(t) => org
                    .api_tokens
                    .get(t as usize)
                    .map_or("/api/internal/tokens".to_string(), |token| {
                        format!("/api/internal/tokens/{}", token.id)
                    }),
                _ => "/api/internal/tokens".to_string(),
            },
            EventKind::GroupMembershipRemove => match event.target {
                Target::GroupMember { user, group } => format!(
                    "/api/v1/groups/{}/users/{}",
                    org.groups[group as usize % org.groups.len()].id,
                    org.users[user as usize].id
                ),
                _ => "/api/v1/groups".to_string(),
            },
            EventKind::AppMembershipAdd => match event.target {
                Target::AppMember { user, app } => format!(
                    "/api/v1/apps/{}/users/{}",
                    org.apps[app as usize % org.apps.len()].id,
                    org.users[user as usize].id
                ),
                _ => "/api/v1/apps".to_string(),
            },
            EventKind::GroupAppAssignmentAdd | EventKind::GroupAppAssignmentRemove => {
                match event.target {
                    Target::GroupApp { group, app } => format!(
                        "/api/v1/apps/{}/groups/{}",
                        org.apps[app as usize % org.apps.len()].id,
                        org.groups[group as usize % org.groups.len()].id
                    ),
                    _ => "/api/v1/apps".to_string(),
                }
            }
            EventKind::GroupPrivilegeGrant | EventKind::GroupPrivilegeRevoke => {
                match event.target {
                    Target::GroupRole { group, .. } => format!(
                        "/api/v1/groups/{}/roles",
                        org.groups[group as usize % org.groups.len()].id
                    ),
                    _ => "/api/v1/groups".to_string(),
                }
            }
            EventKind::PrivilegeGrant | EventKind::PrivilegeRevoke => match target_user_id {
                Some(id) => format!("/api/v1/users/{id}/roles"),
                None => "/api/v1/users".to_string(),
            },
            kind => {
                let action = match kind {
                    EventKind::FactorActivate => "factors/activate",
                    EventKind::FactorDeactivate => "factors",
                    EventKind::FactorResetAll => "lifecycle/reset_factors",
                    EventKind::LifecycleCreate => "",
                    EventKind::LifecycleActivate => "lifecycle/activate",
                    EventKind::LifecycleDeactivate => "lifecycle/deactivate",
                    EventKind::LifecycleSuspend => "lifecycle/suspend",
                    EventKind::LifecycleUnsuspend => "lifecycle/unsuspend",
                    EventKind::AccountUnlock => "lifecycle/unlock",
                    EventKind::AccountResetPassword => "lifecycle/reset_password",
                    _ => "",
                };
                match target_user_id {
                    Some(id) if !action.is_empty() => format!("/api/v1/users/{id}/{action}"),
                    Some(id) => format!("/api/v1/users/{id}"),
                    None => "/api/v1/users".to_string(),
                }
            }
        };
        let url = format!("{request_uri}?");
        debug.request_uri = Some(&request_uri);
        debug.url = Some(&url);
        let privilege = match event.target {
            Target::UserRole { role, .. } | Target::GroupRole { role, .. } => {
                Some(org.role_type_and_label(role).1.to_string())
            }
            _ => None,
        };
        match event.kind {
            EventKind::PrivilegeGrant | EventKind::GroupPrivilegeGrant => {
                debug.privilege_granted = privilege.as_deref();
            }
            EventKind::PrivilegeRevoke | EventKind::GroupPrivilegeRevoke => {
                debug.privilege_revoked = privilege.as_deref();
            }
            _ => {}
        }
        let authn_request_id;
        let dt_hash;
        let risk;
        if matches!(
            event.kind,
            EventKind::SessionStart
                | EventKind::PolicyEvaluateSignOn
                | EventKind::AuthViaMfa
                | EventKind::AuthenticationVerify
                | EventKind::OktaVerifyDenyPush
        ) {
            authn_request_id = format!("{:016x}", mix64(event.session));
            dt_hash = format!(
                "{:016x}{:016x}",
                mix64(event.session ^ 3),
                mix64(event.city as u64)
            );
            risk = if event.risk_high {
                "{reasons=Anomalous Location, New Device, level=HIGH}"
            } else {
                "{level=LOW}"
            };
            debug.authn_request_id = Some(&authn_request_id);
            debug.dt_hash = Some(&dt_hash);
            debug.risk = Some(risk);
            debug.threat_suspected = Some("false");
        }
        if event.kind == EventKind::AuthViaMfa {
            debug.factor = event.factor.map(MfaFactor::as_str);
        }
        let mut behaviors_text = None;
        let mut security_json = None;
        let mut user_behaviors = None;
        for set in &event.behaviors {
            match set.placement {
                BehaviorPlacement::DebugBehaviors => behaviors_text = Some(java_map(set)),
                BehaviorPlacement::LogOnlySecurityData => {
                    let behaviors: Vec<(&str, &str)> =
                        set.entries().map(|(n, p)| (n, positive_str(p))).collect();
                    let level = if event.risk_high { "HIGH" } else { "LOW" };
                    let data = SecurityData {
                        risk: RiskLevel { level },
                        behaviors: Ordered(behaviors),
                    };
                    security_json = Some(
                        serde_json::to_string(&data)
                            .expect("serialising into a String cannot fail"),
                    );
                }
                BehaviorPlacement::UserBehaviorsString => {
                    user_behaviors = Some(UserBehaviors::Text(java_map(set)))
                }
                BehaviorPlacement::UserBehaviorsObject => {
                    user_behaviors = Some(UserBehaviors::Object(Ordered(
                        set.entries().map(|(n, p)| (n, positive_str(p))).collect(),
                    )))
                }
                BehaviorPlacement::UserBehaviorsArray => {
                    user_behaviors = Some(UserBehaviors::Array(
                        set.entries()
                            .map(|(name, p)| BehaviorEntry {
                                id: behavior_id(org.seed, name),
                                name,
                                result: positive_str(p),
                            })
                            .collect(),
                    ))
                }
            }
        }
        debug.behaviors = behaviors_text.as_deref();
        debug.log_only_security_data = security_json.as_deref();

        let severity = match event.kind {
            EventKind::OktaVerifyDenyPush | EventKind::AccountLock => "WARN",
            _ if event.risk_high => "WARN",
            _ => "INFO",
        };
        let failed = event.result == OutcomeResult::Failure;
        let targets = self.targets(event);
        let root_session = idx.then_some(session.as_str());
        let device = (event.factor == Some(MfaFactor::SignedNonce)).then(|| {
            let d = DEVICES[(event.uuid as usize) % DEVICES.len()];
            WireDevice {
                id: format!("guo{}", &request_id[..17]),
                name: d.1,
                os_platform: d.2,
                os_version: d.3,
                managed: false,
                registered: true,
                device_integrator: None,
                disk_encryption_type: "ALL_INTERNAL_VOLUMES",
                screen_lock_type: "BIOMETRIC",
                jailbreak: None,
                secure_hardware_present: true,
            }
        });
        let wire = WireEvent {
            actor,
            client: WireClient {
                user_agent: WireAgent {
                    raw_user_agent: agent.raw,
                    os: agent.os,
                    browser: agent.browser,
                },
                zone: "null",
                device: agent_device(agent),
                id: None,
                ip_address: &ip,
                geographical_context: &geo,
            },
            device,
            authentication_context: WireAuthContext {
                authentication_provider: None,
                credential_provider: None,
                credential_type: None,
                issuer: None,
                interface: None,
                authentication_step: 0,
                root_session_id: root_session,
                external_session_id: &session,
            },
            display_message: event.kind.display_message(),
            event_type: event.kind.as_str(),
            outcome: WireOutcome {
                result: event.result.as_str(),
                reason: event.reason,
            },
            published: format_ms(event.published_ms),
            security_context: WireSecurityContext {
                as_number: city.as_number,
                as_org: city.as_org,
                isp: city.isp,
                domain: city.domain,
                is_proxy: false,
                user_behaviors,
            },
            severity,
            debug_context: WireDebugContext { debug_data: debug },
            legacy_event_type: event.kind.legacy_event_type(failed),
            transaction: WireTransaction {
                kind: "WEB",
                id: &request_id,
                detail: WireTransactionDetail {
                    request_api_token_id: org
                        .request_token(event)
                        .map(|t| org.api_tokens[t].id.as_str()),
                },
            },
            uuid: &uuid,
            version: "0",
            request: WireRequest {
                ip_chain: [WireIp {
                    ip: &ip,
                    geographical_context: &geo,
                    version: "V4",
                    source: None,
                }],
            },
            target: targets,
        };
        serde_json::to_writer(out, &wire).expect("serialising into a Vec cannot fail");
    }

    fn user_target(&self, u: u32, kind: &'static str) -> WireTarget {
        let user = &self.org.users[u as usize];
        WireTarget {
            id: user.id.clone(),
            kind,
            alternate_id: user.login.clone(),
            display_name: user.display_name(),
            detail_entry: None,
        }
    }

    fn group_target(&self, group: u16) -> WireTarget {
        let g = &self.org.groups[group as usize % self.org.groups.len()];
        WireTarget {
            id: g.id.clone(),
            kind: "UserGroup",
            alternate_id: "unknown".into(),
            display_name: g.name.clone(),
            detail_entry: None,
        }
    }

    fn app_target(&self, app: u16) -> WireTarget {
        let app = &self.org.apps[app as usize % self.org.apps.len()];
        WireTarget {
            id: app.id.clone(),
            kind: "AppInstance",
            alternate_id: app.label.clone(),
            display_name: app.label.clone(),
            detail_entry: None,
        }
    }

    fn targets(&self, event: &LogEvent) -> Option<Vec<WireTarget>> {
        let org = self.org;
        let derived = |prefix: &str, u: u32| -> String {
            let id = &org.users[u as usize].id;
            format!("{prefix}{}", &id[3..])
        };
        Some(match event.target {
            Target::None => return None,
            Target::User(u) => vec![self.user_target(u, "User")],
            Target::UserFactor(u, factor) => vec![
                self.user_target(u, "User"),
                WireTarget {
                    id: derived("pfd", u),
                    kind: "AuthenticatorEnrollment",
                    alternate_id: "unknown".into(),
                    display_name: authenticator_name(factor).into(),
                    detail_entry: None,
                },
            ],
            Target::SignIn => {
                let u = match event.actor {
                    Actor::User(u) => u,
                    Actor::System => 0,
                };
                vec![
                    WireTarget {
                        id: derived("lae", u),
                        kind: "AuthenticatorEnrollment",
                        alternate_id: "unknown".into(),
                        display_name: "Password".into(),
                        detail_entry: None,
                    },
                    self.app_target(1),
                ]
            }
            Target::SignOnPolicy => {
                let mut app = self.app_target(1);
                app.detail_entry = Some(DetailEntry {
                    sign_on_mode_type: "OPENID_CONNECT",
                    sign_on_mode_evaluation_result: if event.result == OutcomeResult::Challenge {
                        "CHALLENGE"
                    } else {
                        "AUTHENTICATED"
                    },
                });
                let rule_id = org
                    .policies
                    .get(1)
                    .and_then(|p| p.rules.last())
                    .map(|r| r.id.clone())
                    .unwrap_or_default();
                vec![
                    app,
                    WireTarget {
                        id: rule_id,
                        kind: "Rule",
                        alternate_id: "unknown".into(),
                        display_name: "Catch-all Rule".into(),
                        detail_entry: None,
                    },
                ]
            }
            Target::AppSso { user, app } => {
                let mut app_user = self.user_target(user, "AppUser");
                app_user.id = derived("0ua", user);
                vec![self.app_target(app), app_user]
            }
            Target::AdminAppUser(u) => vec![self.user_target(u, "AppUser")],
            Target::GroupMember { user, group } => {
                vec![self.user_target(user, "User"), self.group_target(group)]
            }
            Target::AppMember { user, app } => {
                let mut app_user = self.user_target(user, "AppUser");
                // The app user's id, as its assignment shows it (`_embedded.assignment`);
                // one the user no longer has is derived from the user's.
                app_user.id = org.users[user as usize]
                    .app_links
                    .iter()
                    .find(|l| l.app == app)
                    .map_or_else(|| derived("0ua", user), |l| l.assignment_id.clone());
                vec![
                    app_user,
                    self.app_target(app),
                    self.user_target(user, "User"),
                ]
            }
            Target::UserRole { user, .. } => vec![self.user_target(user, "User")],
            Target::GroupRole { group, .. } => {
                vec![self.group_target(group)]
            }
            Target::GroupApp { group, app } => {
                vec![self.app_target(app), self.group_target(group)]
            }
            Target::Token(t) => {
                let token = org.api_tokens.get(t as usize)?;
                vec![WireTarget {
                    id: token.id.clone(),
                    kind: "Token",
                    alternate_id: "unknown".into(),
                    display_name: token.name.clone(),
                    detail_entry: None,
                }]
            }
        })
    }
}

fn phone(factor: &Factor) -> String {
    let n = mix64(factor.created_ms as u64 ^ u64::from(factor.variant));
    format!("+1-555-{:03}-{:04}", 200 + n % 700, (n >> 20) % 10_000)
}

fn positive_str(positive: bool) -> &'static str {
    if positive {
        "POSITIVE"
    } else {
        "NEGATIVE"
    }
}

/// `{New Geo-Location=NEGATIVE, Velocity=POSITIVE}`: the Java-map form Okta logs.
fn java_map(set: &BehaviorSet) -> String {
    let parts: Vec<String> = set
        .entries()
        .map(|(n, p)| format!("{n}={}", positive_str(p)))
        .collect();
    format!("{{{}}}", parts.join(", "))
}

/// A stable `bhv…` id for a behaviour name in this org.
fn behavior_id(seed: u64, name: &str) -> String {
    let h = name
        .bytes()
        .fold(mix64(seed), |h, b| mix64(h ^ u64::from(b)));
    format!("bhv{}", &crate::ids::error_id(h)[3..20])
}

fn authenticator_name(factor: MfaFactor) -> &'static str {
    match factor {
        MfaFactor::OktaVerifyPush | MfaFactor::SignedNonce | MfaFactor::OktaSoftToken => {
            "Okta Verify"
        }
        MfaFactor::FidoWebauthn | MfaFactor::FidoU2f => "Security Key or Biometric",
        MfaFactor::SmsFactor | MfaFactor::CallFactor => "Phone",
        MfaFactor::EmailFactor => "Email",
        MfaFactor::GoogleOtp => "Google Authenticator",
        MfaFactor::YubikeyToken => "YubiKey",
        MfaFactor::RsaToken => "RSA SecurID",
        MfaFactor::SecurityQuestion => "Security Question",
        MfaFactor::PasswordAsFactor => "Password",
    }
}

fn agent_device(agent: &Agent) -> &'static str {
    agent.device
}

#[derive(Serialize)]
struct WireGeolocation {
    lat: f64,
    lon: f64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireGeo {
    city: &'static str,
    state: &'static str,
    country: &'static str,
    postal_code: Option<&'static str>,
    geolocation: WireGeolocation,
}

fn geo(city: &City) -> WireGeo {
    WireGeo {
        city: city.city,
        state: city.state,
        country: city.country,
        postal_code: city.postal_code,
        geolocation: WireGeolocation {
            lat: city.lat,
            lon: city.lon,
        },
    }
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireActor<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    kind: &'static str,
    alternate_id: &'a str,
    display_name: String,
    detail_entry: Option<Empty>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireAgent {
    raw_user_agent: &'static str,
    os: &'static str,
    browser: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireClient<'a> {
    user_agent: WireAgent,
    zone: &'static str,
    device: &'static str,
    id: Option<&'static str>,
    ip_address: &'a str,
    geographical_context: &'a WireGeo,
}

#[derive(Serialize)]
struct WireDevice {
    id: String,
    name: &'static str,
    os_platform: &'static str,
    os_version: &'static str,
    managed: bool,
    registered: bool,
    device_integrator: Option<&'static str>,
    disk_encryption_type: &'static str,
    screen_lock_type: &'static str,
    jailbreak: Option<bool>,
    secure_hardware_present: bool,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireAuthContext<'a> {
    authentication_provider: Option<&'static str>,
    credential_provider: Option<&'static str>,
    credential_type: Option<&'static str>,
    issuer: Option<&'static str>,
    interface: Option<&'static str>,
    authentication_step: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    root_session_id: Option<&'a str>,
    external_session_id: &'a str,
}

#[derive(Serialize)]
struct WireOutcome {
    result: &'static str,
    reason: Option<&'static str>,
}

#[derive(Serialize)]
struct BehaviorEntry {
    id: String,
    name: &'static str,
    result: &'static str,
}

#[derive(Serialize)]
#[serde(untagged)]
enum UserBehaviors {
    Text(String),
    Object(Ordered<'static>),
    Array(Vec<BehaviorEntry>),
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireSecurityContext {
    as_number: u32,
    as_org: &'static str,
    isp: &'static str,
    domain: &'static str,
    is_proxy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    user_behaviors: Option<UserBehaviors>,
}

#[derive(Serialize, Default)]
#[serde(rename_all = "camelCase")]
struct DebugData<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    authn_request_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    behaviors: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    dt_hash: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    factor: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    log_only_security_data: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    privilege_granted: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    privilege_revoked: Option<&'a str>,
    request_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    request_uri: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    risk: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    threat_suspected: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    url: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireDebugContext<'a> {
    debug_data: DebugData<'a>,
}

#[derive(Serialize)]
struct WireTransaction<'a> {
    #[serde(rename = "type")]
    kind: &'static str,
    id: &'a str,
    detail: WireTransactionDetail<'a>,
}

/// `transaction.detail`: empty, or the API token the request was made with.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireTransactionDetail<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    request_api_token_id: Option<&'a str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireIp<'a> {
    ip: &'a str,
    geographical_context: &'a WireGeo,
    version: &'static str,
    source: Option<&'static str>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireRequest<'a> {
    ip_chain: [WireIp<'a>; 1],
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DetailEntry {
    sign_on_mode_type: &'static str,
    sign_on_mode_evaluation_result: &'static str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireTarget {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    alternate_id: String,
    display_name: String,
    detail_entry: Option<DetailEntry>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireEvent<'a> {
    actor: WireActor<'a>,
    client: WireClient<'a>,
    device: Option<WireDevice>,
    authentication_context: WireAuthContext<'a>,
    display_message: &'static str,
    event_type: &'static str,
    outcome: WireOutcome,
    published: String,
    security_context: WireSecurityContext,
    severity: &'static str,
    debug_context: WireDebugContext<'a>,
    legacy_event_type: Option<&'static str>,
    transaction: WireTransaction<'a>,
    uuid: &'a str,
    version: &'static str,
    request: WireRequest<'a>,
    target: Option<Vec<WireTarget>>,
}

#[derive(Serialize)]
struct Hints {
    allow: &'static [&'static str],
}

#[derive(Serialize)]
struct HintedLink {
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<&'static str>,
    href: String,
    hints: Hints,
}

#[derive(Serialize)]
#[serde(untagged)]
enum FactorLink {
    One(HintedLink),
    Many(Vec<HintedLink>),
}

/// A `_links` object whose entries keep their order.
struct OrderedLinks(Vec<(&'static str, FactorLink)>);

impl Serialize for OrderedLinks {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

#[derive(Serialize)]
struct DeviceKey {
    kty: &'static str,
    #[serde(rename = "use")]
    key_use: &'static str,
    kid: &'static str,
    x: String,
    y: String,
    crv: &'static str,
}

#[derive(Serialize)]
#[serde(untagged, rename_all_fields = "camelCase")]
enum FactorProfile<'a> {
    Question {
        question: &'static str,
        question_text: &'static str,
    },
    Phone {
        phone_number: String,
        #[serde(skip_serializing_if = "Option::is_none")]
        phone_extension: Option<&'static str>,
    },
    Email {
        email: &'a str,
    },
    Credential {
        credential_id: String,
    },
    Device {
        credential_id: &'a str,
        device_type: &'static str,
        keys: [DeviceKey; 1],
        name: &'static str,
        platform: &'static str,
        version: &'static str,
    },
    Webauthn {
        credential_id: String,
        authenticator_name: &'static str,
    },
    U2f {
        credential_id: String,
        version: &'static str,
    },
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Activation {
    time_step: u32,
    shared_secret: String,
    encoding: &'static str,
    key_length: u32,
}

#[derive(Serialize)]
struct Embedded {
    activation: Activation,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireFactor<'a> {
    id: &'a str,
    factor_type: &'static str,
    provider: &'static str,
    vendor_name: &'static str,
    status: &'static str,
    created: String,
    last_updated: String,
    profile: FactorProfile<'a>,
    #[serde(rename = "_links")]
    links: OrderedLinks,
    #[serde(rename = "_embedded", skip_serializing_if = "Option::is_none")]
    embedded: Option<Embedded>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct WireAppLink<'a> {
    id: &'a str,
    label: String,
    link_url: String,
    logo_url: String,
    app_name: &'static str,
    app_instance_id: &'a str,
    app_assignment_id: &'a str,
    credentials_setup: bool,
    hidden: bool,
    sort_order: u16,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct SecurityData<'a> {
    risk: RiskLevel,
    behaviors: Ordered<'a>,
}

#[derive(Serialize)]
struct RiskLevel {
    level: &'static str,
}
