//! The simulated org's data: users with their factors and app links, apps, groups,
//! ACCESS_POLICY policies and rules, API tokens, admin assignees and System Log events.
//! The identity graph's own types (roles, resource sets, group apps) are in `graph.rs`.
//!
//! These structs are the single source of truth: the HTTP layer renders them into Okta's
//! JSON shapes (`render.rs`) and the ground truth (`truth.rs`) is computed from them
//! directly. Events are stored compactly (enums and indexes) and expanded on output, so
//! a 10,000-user org with ~100,000 events stays small in memory.

use std::collections::{HashMap, HashSet};

/// What to generate: the seed, the number of users and the org's data clock.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OrgSpec {
    /// Everything random in the org derives from this seed.
    pub seed: u64,
    /// How many users to create.
    pub users: usize,
    /// The org's data clock in epoch milliseconds: events are generated relative to it.
    pub now_ms: i64,
}

/// A user's lifecycle status, as Okta names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum UserStatus {
    Active,
    Suspended,
    Deprovisioned,
    Staged,
    Provisioned,
    PasswordExpired,
    Recovery,
    LockedOut,
}

impl UserStatus {
    /// Every status, in a fixed order.
    pub const ALL: [UserStatus; 8] = [
        UserStatus::Active,
        UserStatus::Suspended,
        UserStatus::Deprovisioned,
        UserStatus::Staged,
        UserStatus::Provisioned,
        UserStatus::PasswordExpired,
        UserStatus::Recovery,
        UserStatus::LockedOut,
    ];

    /// The wire name (`ACTIVE`, `LOCKED_OUT`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            UserStatus::Active => "ACTIVE",
            UserStatus::Suspended => "SUSPENDED",
            UserStatus::Deprovisioned => "DEPROVISIONED",
            UserStatus::Staged => "STAGED",
            UserStatus::Provisioned => "PROVISIONED",
            UserStatus::PasswordExpired => "PASSWORD_EXPIRED",
            UserStatus::Recovery => "RECOVERY",
            UserStatus::LockedOut => "LOCKED_OUT",
        }
    }

    /// Parses a wire name, case-insensitively.
    pub fn parse(name: &str) -> Option<UserStatus> {
        UserStatus::ALL
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name))
    }
}

/// Where a user's credentials come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CredentialProvider {
    Okta,
    ActiveDirectory,
}

/// An Okta user.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: String,
    pub status: UserStatus,
    pub created_ms: i64,
    pub activated_ms: Option<i64>,
    pub status_changed_ms: Option<i64>,
    pub last_login_ms: Option<i64>,
    pub last_updated_ms: i64,
    pub password_changed_ms: Option<i64>,
    pub first_name: String,
    pub last_name: String,
    /// Login and primary email.
    pub login: String,
    pub mobile_phone: Option<String>,
    pub title: Option<&'static str>,
    pub department: Option<&'static str>,
    /// Index into `catalog::QUESTIONS` for `credentials.recovery_question`.
    pub recovery_question: Option<u8>,
    pub provider: CredentialProvider,
    /// Index into `catalog::CITIES`: where the user normally signs in from.
    pub home_city: u16,
    /// Index into `catalog::AGENTS`.
    pub agent: u8,
    pub factors: Vec<Factor>,
    pub app_links: Vec<AppLink>,
}

impl User {
    /// `First Last`.
    pub fn display_name(&self) -> String {
        format!("{} {}", self.first_name, self.last_name)
    }

    /// Whether this user counts as MFA-enrolled under docs/okta-kris.md: an ACTIVE factor
    /// whose type is neither `password` nor `question`.
    pub fn is_mfa_enrolled(&self) -> bool {
        self.factors.iter().any(Factor::counts_as_mfa)
    }

    /// Whether this user has an ACTIVE phishing-resistant factor (`webauthn`, `u2f`, or
    /// provider `FIDO`).
    pub fn has_phish_resistant(&self) -> bool {
        self.factors.iter().any(Factor::counts_as_phish_resistant)
    }
}

/// A factor's `factorType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FactorType {
    Question,
    Sms,
    Call,
    Email,
    SoftwareTotp,
    Push,
    SignedNonce,
    Webauthn,
    U2f,
    HardwareToken,
    Token,
}

impl FactorType {
    /// The wire name (`token:software:totp`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FactorType::Question => "question",
            FactorType::Sms => "sms",
            FactorType::Call => "call",
            FactorType::Email => "email",
            FactorType::SoftwareTotp => "token:software:totp",
            FactorType::Push => "push",
            FactorType::SignedNonce => "signed_nonce",
            FactorType::Webauthn => "webauthn",
            FactorType::U2f => "u2f",
            FactorType::HardwareToken => "token:hardware",
            FactorType::Token => "token",
        }
    }

    /// The id prefix Okta uses for factors of this type.
    pub fn id_prefix(self) -> &'static str {
        match self {
            FactorType::Question => "ufs",
            FactorType::Sms => "mbl",
            FactorType::Call => "clf",
            FactorType::Email => "emf",
            FactorType::SoftwareTotp => "ost",
            FactorType::Push => "opf",
            FactorType::SignedNonce => "crp",
            FactorType::Webauthn => "fwf",
            FactorType::U2f => "fuf",
            FactorType::HardwareToken => "ykf",
            FactorType::Token => "rsa",
        }
    }
}

/// A factor's `provider`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FactorProvider {
    Okta,
    Google,
    Fido,
    Yubico,
    Rsa,
    Symantec,
}

impl FactorProvider {
    /// The wire name (`OKTA`, `FIDO`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            FactorProvider::Okta => "OKTA",
            FactorProvider::Google => "GOOGLE",
            FactorProvider::Fido => "FIDO",
            FactorProvider::Yubico => "YUBICO",
            FactorProvider::Rsa => "RSA",
            FactorProvider::Symantec => "SYMANTEC",
        }
    }
}

/// A factor's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FactorStatus {
    Active,
    PendingActivation,
    NotSetup,
    Inactive,
    Expired,
}

impl FactorStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            FactorStatus::Active => "ACTIVE",
            FactorStatus::PendingActivation => "PENDING_ACTIVATION",
            FactorStatus::NotSetup => "NOT_SETUP",
            FactorStatus::Inactive => "INACTIVE",
            FactorStatus::Expired => "EXPIRED",
        }
    }
}

/// An enrolled (or half-enrolled) factor.
#[derive(Debug, Clone, PartialEq)]
pub struct Factor {
    pub id: String,
    pub factor_type: FactorType,
    pub provider: FactorProvider,
    pub status: FactorStatus,
    pub created_ms: i64,
    pub last_updated_ms: i64,
    /// Picks profile details (device, question, authenticator name).
    pub variant: u8,
}

impl Factor {
    /// ACTIVE and neither `password` nor `question` (the simulator never lists `password`).
    pub fn counts_as_mfa(&self) -> bool {
        self.status == FactorStatus::Active && self.factor_type != FactorType::Question
    }

    /// ACTIVE and `webauthn`, `u2f` or provider `FIDO`.
    pub fn counts_as_phish_resistant(&self) -> bool {
        self.status == FactorStatus::Active
            && (matches!(self.factor_type, FactorType::Webauthn | FactorType::U2f)
                || self.provider == FactorProvider::Fido)
    }

    /// The factor's name in System Log text (`FIDO_WEBAUTHN`, `OKTA_VERIFY_PUSH`, ...).
    pub fn log_name(&self) -> MfaFactor {
        match (self.factor_type, self.provider) {
            (FactorType::Question, _) => MfaFactor::SecurityQuestion,
            (FactorType::Sms, _) => MfaFactor::SmsFactor,
            (FactorType::Call, _) => MfaFactor::CallFactor,
            (FactorType::Email, _) => MfaFactor::EmailFactor,
            (FactorType::SoftwareTotp, FactorProvider::Google) => MfaFactor::GoogleOtp,
            (FactorType::SoftwareTotp, _) => MfaFactor::OktaSoftToken,
            (FactorType::Push, _) => MfaFactor::OktaVerifyPush,
            (FactorType::SignedNonce, _) => MfaFactor::SignedNonce,
            (FactorType::Webauthn, _) => MfaFactor::FidoWebauthn,
            (FactorType::U2f, _) => MfaFactor::FidoU2f,
            (FactorType::HardwareToken, _) => MfaFactor::YubikeyToken,
            (FactorType::Token, _) => MfaFactor::RsaToken,
        }
    }
}

/// A link on a user's dashboard (`GET /api/v1/users/{id}/appLinks`).
#[derive(Debug, Clone, PartialEq)]
pub struct AppLink {
    /// Index into `Org::apps`.
    pub app: u16,
    /// Index into the app's link names.
    pub link: u8,
    pub assignment_id: String,
    pub sort_order: u16,
    pub hidden: bool,
    pub credentials_setup: bool,
    /// Whether the user is assigned the app individually (Okta's app user `scope`
    /// `USER`); false when only a group gives it (`scope` `GROUP`). All links of one
    /// app agree.
    pub direct: bool,
}

/// An application instance.
#[derive(Debug, Clone, PartialEq)]
pub struct App {
    pub id: String,
    /// Index into `catalog::APP_TEMPLATES`.
    pub template: u16,
    /// Label shown to people (may carry a suffix when an app is added twice).
    pub label: String,
    pub active: bool,
    pub created_ms: i64,
    pub last_updated_ms: i64,
    /// Numeric link id used in `linkUrl` (`/home/<name>/<id>/<n>`).
    pub link_number: u16,
}

/// A group's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    BuiltIn,
    OktaGroup,
    AppGroup,
}

/// A group.
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: String,
    pub kind: GroupKind,
    pub created_ms: i64,
    pub last_updated_ms: i64,
    pub last_membership_updated_ms: i64,
    /// For `APP_GROUP`s: the directory app they come from.
    pub source_app_id: Option<String>,
    /// Members: indexes into `Org::users`, ascending.
    pub members: Vec<u32>,
}

/// `ACTIVE` or `INACTIVE` for policies and rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ActiveStatus {
    Active,
    Inactive,
}

impl ActiveStatus {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ActiveStatus::Active => "ACTIVE",
            ActiveStatus::Inactive => "INACTIVE",
        }
    }
}

/// An ACCESS_POLICY (app sign-on policy) with its rules.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub id: String,
    pub name: String,
    pub description: Option<String>,
    pub status: ActiveStatus,
    pub system: bool,
    pub created_ms: i64,
    pub last_updated_ms: i64,
    pub rules: Vec<PolicyRule>,
}

/// `actions.appSignOn.access`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleAccess {
    Allow,
    Deny,
}

/// `verificationMethod.factorMode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactorMode {
    OneFactor,
    TwoFactor,
}

impl FactorMode {
    /// `1FA` or `2FA`.
    pub fn as_str(self) -> &'static str {
        match self {
            FactorMode::OneFactor => "1FA",
            FactorMode::TwoFactor => "2FA",
        }
    }
}

/// The `constraints` of an ASSURANCE verification method, in the shapes Okta returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Constraints {
    /// No `constraints` key.
    Missing,
    /// `"constraints": []`.
    EmptyList,
    /// `"constraints": [{}]`.
    EmptyObjectList,
    /// `[{"possession": {"phishingResistant": "REQUIRED", ...}}]`.
    PhishingResistant,
    /// `[{"possession": {"required": true, "deviceBound": "REQUIRED"}}]`.
    DeviceBound,
    /// `[{"knowledge": {...}, "possession": {...}}]`.
    KnowledgeAndPossession,
}

/// `actions.appSignOn.verificationMethod`, in the shapes Okta returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verification {
    /// No `verificationMethod` key at all.
    Absent,
    /// `"verificationMethod": null`.
    Null,
    /// `{"type": "ASSURANCE", "factorMode": ..., ...}`.
    Assurance {
        factor_mode: FactorMode,
        /// Index into the re-authentication periods (`PT12H`, `PT2H`, ...).
        reauthenticate: u8,
        constraints: Constraints,
        inactivity_period: bool,
    },
    /// `{"type": "AUTH_METHOD_CHAIN", "chains": [...]}`: no `factorMode`.
    AuthMethodChain,
}

/// The `conditions` of a rule, in the shapes Okta returns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuleConditions {
    /// `"conditions": null` (catch-all rules).
    Null,
    /// People/network/userType, optionally riskScore.
    Basic { risk_score: bool },
    /// Group include and a network zone exclusion.
    GroupsAndZone,
    /// Device conditions (registered, managed, assurance).
    Device,
}

/// `actions.appSignOn.keepMeSignedIn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeepMeSignedIn {
    Missing,
    NotAllowed,
    Allowed,
}

/// A rule of an ACCESS_POLICY.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyRule {
    pub id: String,
    pub name: String,
    pub status: ActiveStatus,
    pub priority: u32,
    pub system: bool,
    pub created_ms: i64,
    pub last_updated_ms: i64,
    pub access: RuleAccess,
    pub verification: Verification,
    pub conditions: RuleConditions,
    pub keep_me_signed_in: KeepMeSignedIn,
    /// Adds a field no client knows, to exercise tolerant parsing.
    pub unknown_field: bool,
}

impl PolicyRule {
    /// docs/okta-kris.md `okta_app_policy_exceptions`: ACTIVE, ALLOW, and no verification
    /// method (absent or null) or factor mode `1FA`. (The policy must also be ACTIVE.)
    pub fn is_exception(&self) -> bool {
        self.status == ActiveStatus::Active
            && self.access == RuleAccess::Allow
            && match self.verification {
                Verification::Absent | Verification::Null => true,
                Verification::Assurance { factor_mode, .. } => factor_mode == FactorMode::OneFactor,
                Verification::AuthMethodChain => false,
            }
    }
}

/// An API token (`GET /api/v1/api-tokens`).
#[derive(Debug, Clone, PartialEq)]
pub struct ApiToken {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub token_window: &'static str,
    pub network_anywhere: bool,
    /// Network zone ids (`nzo…`) of a `ZONE` network; empty (and not anywhere) means the
    /// token has no `network` at all.
    pub network_zones: Vec<String>,
    pub created_ms: i64,
    pub last_updated_ms: i64,
    pub expires_ms: i64,
    /// When the token was revoked; revoked tokens are no longer listed.
    pub revoked_ms: Option<i64>,
}

/// An admin role type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminRole {
    SuperAdmin,
    OrgAdmin,
    AppAdmin,
    HelpDeskAdmin,
    ReadOnlyAdmin,
    UserAdmin,
    GroupMembershipAdmin,
    ApiAccessManagementAdmin,
    ReportAdmin,
}

impl AdminRole {
    /// (`type`, `label`) as the roles API shows them.
    pub fn type_and_label(self) -> (&'static str, &'static str) {
        match self {
            AdminRole::SuperAdmin => ("SUPER_ADMIN", "Super Administrator"),
            AdminRole::OrgAdmin => ("ORG_ADMIN", "Organization Administrator"),
            AdminRole::AppAdmin => ("APP_ADMIN", "Application Administrator"),
            AdminRole::HelpDeskAdmin => ("HELP_DESK_ADMIN", "Help Desk Administrator"),
            AdminRole::ReadOnlyAdmin => ("READ_ONLY_ADMIN", "Read-only Administrator"),
            AdminRole::UserAdmin => ("USER_ADMIN", "Group Administrator"),
            AdminRole::GroupMembershipAdmin => {
                ("GROUP_MEMBERSHIP_ADMIN", "Group Membership Administrator")
            }
            AdminRole::ApiAccessManagementAdmin => (
                "API_ACCESS_MANAGEMENT_ADMIN",
                "API Access Management Administrator",
            ),
            AdminRole::ReportAdmin => ("REPORT_ADMIN", "Report Administrator"),
        }
    }
}

/// A user with an admin role (`GET /api/v1/iam/assignees/users`).
#[derive(Debug, Clone, PartialEq)]
pub struct Admin {
    /// Index into `Org::users`.
    pub user: u32,
    pub role: AdminRole,
    pub role_assignment_id: String,
    pub assigned_ms: i64,
    /// What the role is limited to (its targets), or the whole org.
    pub scope: crate::graph::RoleScope,
}

/// A System Log `eventType`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum EventKind {
    SessionStart,
    SessionEnd,
    PolicyEvaluateSignOn,
    AuthenticationSso,
    AuthViaMfa,
    AuthenticationVerify,
    OktaVerifyDenyPush,
    AccessAdminApp,
    FactorActivate,
    FactorDeactivate,
    FactorResetAll,
    LifecycleCreate,
    LifecycleActivate,
    LifecycleDeactivate,
    LifecycleSuspend,
    LifecycleUnsuspend,
    AccountLock,
    AccountUnlock,
    AccountResetPassword,
    ApiTokenCreate,
    GroupMembershipAdd,
    AppMembershipRemove,
    ApiTokenRevoke,
    GroupMembershipRemove,
    AppMembershipAdd,
    PrivilegeGrant,
    PrivilegeRevoke,
    GroupPrivilegeGrant,
    GroupPrivilegeRevoke,
    GroupAppAssignmentAdd,
    GroupAppAssignmentRemove,
}

impl EventKind {
    /// Every kind, for filter parsing.
    pub const ALL: [EventKind; 31] = [
        EventKind::SessionStart,
        EventKind::SessionEnd,
        EventKind::PolicyEvaluateSignOn,
        EventKind::AuthenticationSso,
        EventKind::AuthViaMfa,
        EventKind::AuthenticationVerify,
        EventKind::OktaVerifyDenyPush,
        EventKind::AccessAdminApp,
        EventKind::FactorActivate,
        EventKind::FactorDeactivate,
        EventKind::FactorResetAll,
        EventKind::LifecycleCreate,
        EventKind::LifecycleActivate,
        EventKind::LifecycleDeactivate,
        EventKind::LifecycleSuspend,
        EventKind::LifecycleUnsuspend,
        EventKind::AccountLock,
        EventKind::AccountUnlock,
        EventKind::AccountResetPassword,
        EventKind::ApiTokenCreate,
        EventKind::GroupMembershipAdd,
        EventKind::AppMembershipRemove,
        EventKind::ApiTokenRevoke,
        EventKind::GroupMembershipRemove,
        EventKind::AppMembershipAdd,
        EventKind::PrivilegeGrant,
        EventKind::PrivilegeRevoke,
        EventKind::GroupPrivilegeGrant,
        EventKind::GroupPrivilegeRevoke,
        EventKind::GroupAppAssignmentAdd,
        EventKind::GroupAppAssignmentRemove,
    ];

    /// The `eventType`.
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::SessionStart => "user.session.start",
            EventKind::SessionEnd => "user.session.end",
            EventKind::PolicyEvaluateSignOn => "policy.evaluate_sign_on",
            EventKind::AuthenticationSso => "user.authentication.sso",
            EventKind::AuthViaMfa => "user.authentication.auth_via_mfa",
            EventKind::AuthenticationVerify => "user.authentication.verify",
            EventKind::OktaVerifyDenyPush => "user.mfa.okta_verify.deny_push",
            EventKind::AccessAdminApp => "user.session.access_admin_app",
            EventKind::FactorActivate => "user.mfa.factor.activate",
            EventKind::FactorDeactivate => "user.mfa.factor.deactivate",
            EventKind::FactorResetAll => "user.mfa.factor.reset_all",
            EventKind::LifecycleCreate => "user.lifecycle.create",
            EventKind::LifecycleActivate => "user.lifecycle.activate",
            EventKind::LifecycleDeactivate => "user.lifecycle.deactivate",
            EventKind::LifecycleSuspend => "user.lifecycle.suspend",
            EventKind::LifecycleUnsuspend => "user.lifecycle.unsuspend",
            EventKind::AccountLock => "user.account.lock",
            EventKind::AccountUnlock => "user.account.unlock",
            EventKind::AccountResetPassword => "user.account.reset_password",
            EventKind::ApiTokenCreate => "system.api_token.create",
            EventKind::GroupMembershipAdd => "group.user_membership.add",
            EventKind::AppMembershipRemove => "application.user_membership.remove",
            EventKind::ApiTokenRevoke => "system.api_token.revoke",
            EventKind::GroupMembershipRemove => "group.user_membership.remove",
            EventKind::AppMembershipAdd => "application.user_membership.add",
            EventKind::PrivilegeGrant => "user.account.privilege.grant",
            EventKind::PrivilegeRevoke => "user.account.privilege.revoke",
            EventKind::GroupPrivilegeGrant => "group.privilege.grant",
            EventKind::GroupPrivilegeRevoke => "group.privilege.revoke",
            EventKind::GroupAppAssignmentAdd => "group.application_assignment.add",
            EventKind::GroupAppAssignmentRemove => "group.application_assignment.remove",
        }
    }

    /// Parses an `eventType`.
    pub fn parse(name: &str) -> Option<EventKind> {
        EventKind::ALL.into_iter().find(|k| k.as_str() == name)
    }

    /// The `displayMessage`.
    pub fn display_message(self) -> &'static str {
        match self {
            EventKind::SessionStart => "User login to Okta",
            EventKind::SessionEnd => "User logout from Okta",
            EventKind::PolicyEvaluateSignOn => "Evaluation of sign-on policy",
            EventKind::AuthenticationSso => "User single sign on to app",
            EventKind::AuthViaMfa => "Authentication of user via MFA",
            EventKind::AuthenticationVerify => "Verify user identity",
            EventKind::OktaVerifyDenyPush => "User rejected Okta push verify",
            EventKind::AccessAdminApp => "User accessing Okta admin app",
            EventKind::FactorActivate => "Activate factor or authenticator",
            EventKind::FactorDeactivate => "Reset factor for user",
            EventKind::FactorResetAll => "Reset all factors for user",
            EventKind::LifecycleCreate => "Create okta user",
            EventKind::LifecycleActivate => "Activate Okta user",
            EventKind::LifecycleDeactivate => "Deactivate Okta user",
            EventKind::LifecycleSuspend => "Suspend Okta user",
            EventKind::LifecycleUnsuspend => "Unsuspend Okta user",
            EventKind::AccountLock => "Max sign in attempts exceeded",
            EventKind::AccountUnlock => "Unlock user account",
            EventKind::AccountResetPassword => "Fired when the user's Okta password is reset",
            EventKind::ApiTokenCreate => "Create API token",
            EventKind::GroupMembershipAdd => "Add user to group membership",
            EventKind::AppMembershipRemove => "Remove user from application membership",
            EventKind::ApiTokenRevoke => "Revoke API token",
            EventKind::GroupMembershipRemove => "Remove user from group membership",
            EventKind::AppMembershipAdd => "Add user to application membership",
            EventKind::PrivilegeGrant => "Grant user privilege",
            EventKind::PrivilegeRevoke => "Revoke user privilege",
            EventKind::GroupPrivilegeGrant => "Grant group privilege",
            EventKind::GroupPrivilegeRevoke => "Revoke group privilege",
            EventKind::GroupAppAssignmentAdd => "Add assigned application to group",
            EventKind::GroupAppAssignmentRemove => "Remove assigned application from group",
        }
    }

    /// The `legacyEventType` for a successful or failed outcome.
    pub fn legacy_event_type(self, failed: bool) -> Option<&'static str> {
        Some(match self {
            EventKind::SessionStart if failed => "core.user_auth.login_failed",
            EventKind::SessionStart => "core.user_auth.login_success",
            EventKind::SessionEnd => "core.user_auth.logout_success",
            EventKind::PolicyEvaluateSignOn | EventKind::AuthenticationVerify => return None,
            EventKind::AuthenticationSso => "app.auth.sso",
            EventKind::AuthViaMfa if failed => "core.user.factor.attempt_fail",
            EventKind::AuthViaMfa => "core.user.factor.attempt_success",
            EventKind::OktaVerifyDenyPush => "core.user.factor.attempt_fail",
            EventKind::AccessAdminApp => "app.admin.sso.login.success",
            EventKind::FactorActivate => "core.user.factor.activate",
            EventKind::FactorDeactivate => "core.user.factor.deactivate",
            EventKind::FactorResetAll => "core.user.factor.reset_all",
            EventKind::LifecycleCreate => "core.user.config.user_creation.success",
            EventKind::LifecycleActivate => "core.user.config.user_activated",
            EventKind::LifecycleDeactivate => "core.user.config.user_deactivated",
            EventKind::LifecycleSuspend => "core.user.config.user_status.suspended",
            EventKind::LifecycleUnsuspend => "core.user.config.user_status.unsuspended",
            EventKind::AccountLock => "core.user_auth.account_locked",
            EventKind::AccountUnlock => "core.user.config.user_status.account_unlock",
            EventKind::AccountResetPassword => "core.user.config.password_update.success",
            EventKind::ApiTokenCreate => "api.token.create",
            EventKind::GroupMembershipAdd => "core.user_group_member.user_add",
            EventKind::AppMembershipRemove => "app.generic.unprovision.deactivate_user",
            EventKind::ApiTokenRevoke => "api.token.revoke",
            EventKind::GroupMembershipRemove => "core.user_group_member.user_remove",
            EventKind::AppMembershipAdd => "app.generic.provision.assign_user_to_app",
            EventKind::PrivilegeGrant => "core.user.admin_privilege.granted",
            EventKind::PrivilegeRevoke => "core.user.admin_privilege.revoked",
            EventKind::GroupPrivilegeGrant
            | EventKind::GroupPrivilegeRevoke
            | EventKind::GroupAppAssignmentAdd
            | EventKind::GroupAppAssignmentRemove => return None,
        })
    }
}

/// `debugContext.debugData.factor` and the factor names in event reasons.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum MfaFactor {
    OktaVerifyPush,
    FidoWebauthn,
    FidoU2f,
    SignedNonce,
    PasswordAsFactor,
    SmsFactor,
    CallFactor,
    EmailFactor,
    OktaSoftToken,
    GoogleOtp,
    YubikeyToken,
    RsaToken,
    SecurityQuestion,
}

impl MfaFactor {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            MfaFactor::OktaVerifyPush => "OKTA_VERIFY_PUSH",
            MfaFactor::FidoWebauthn => "FIDO_WEBAUTHN",
            MfaFactor::FidoU2f => "FIDO_U2F",
            MfaFactor::SignedNonce => "SIGNED_NONCE",
            MfaFactor::PasswordAsFactor => "PASSWORD_AS_FACTOR",
            MfaFactor::SmsFactor => "SMS_FACTOR",
            MfaFactor::CallFactor => "CALL_FACTOR",
            MfaFactor::EmailFactor => "EMAIL_FACTOR",
            MfaFactor::OktaSoftToken => "OKTA_SOFT_TOKEN",
            MfaFactor::GoogleOtp => "GOOGLE_OTP",
            MfaFactor::YubikeyToken => "YUBIKEY_TOKEN",
            MfaFactor::RsaToken => "RSA_SECURID",
            MfaFactor::SecurityQuestion => "SECURITY_QUESTION",
        }
    }
}

/// Who did it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Actor {
    /// Index into `Org::users`.
    User(u32),
    /// Okta itself (`SystemPrincipal`).
    System,
}

/// What it was done to (`target`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// `"target": null`.
    None,
    /// A user (`type: "User"`).
    User(u32),
    /// A user and one of their factors (`User`, `AuthenticatorEnrollment`).
    UserFactor(u32, MfaFactor),
    /// A sign-in: the authenticator used and the dashboard app.
    SignIn,
    /// A sign-on policy evaluation: the app and the matched rule.
    SignOnPolicy,
    /// A single sign-on: the app instance and the app user.
    AppSso { user: u32, app: u16 },
    /// The admin console's app user.
    AdminAppUser(u32),
    /// A user added to a group.
    GroupMember { user: u32, group: u16 },
    /// A user removed from an app.
    AppMember { user: u32, app: u16 },
    /// An API token.
    Token(u16),
    /// A user granted or revoked a role.
    UserRole {
        user: u32,
        role: crate::graph::RoleRef,
    },
    /// A group granted or revoked a role.
    GroupRole {
        group: u16,
        role: crate::graph::RoleRef,
    },
    /// An app assigned to a group or unassigned from it.
    GroupApp { group: u16, app: u16 },
}

impl Target {
    /// The user this target names with `type: "User"`, if any.
    pub fn user(self) -> Option<u32> {
        match self {
            Target::User(u) | Target::UserFactor(u, _) => Some(u),
            Target::GroupMember { user, .. }
            | Target::AppMember { user, .. }
            | Target::UserRole { user, .. } => Some(user),
            _ => None,
        }
    }
}

/// `outcome.result`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutcomeResult {
    Success,
    Failure,
    Allow,
    Challenge,
    Deny,
}

impl OutcomeResult {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeResult::Success => "SUCCESS",
            OutcomeResult::Failure => "FAILURE",
            OutcomeResult::Allow => "ALLOW",
            OutcomeResult::Challenge => "CHALLENGE",
            OutcomeResult::Deny => "DENY",
        }
    }
}

/// Behaviour names as orgs configure them; rendered in this order.
pub const BEHAVIOR_NAMES: [&str; 9] = [
    "New Geo-Location",
    "New Device",
    "New IP",
    "New State",
    "New Country",
    "Velocity",
    "Velocity Behavior",
    "New City",
    "riskIP",
];

/// Where an event carries its behaviours.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BehaviorPlacement {
    /// `debugContext.debugData.behaviors`: a Java-map string.
    DebugBehaviors,
    /// `debugContext.debugData.logOnlySecurityData`: a JSON string with a `behaviors` object.
    LogOnlySecurityData,
    /// `securityContext.userBehaviors` as a Java-map string.
    UserBehaviorsString,
    /// `securityContext.userBehaviors` as an object mapping names to results.
    UserBehaviorsObject,
    /// `securityContext.userBehaviors` as the spec's array of `{id, name, result}`.
    UserBehaviorsArray,
}

/// One set of behaviours: which names appear (bit i = `BEHAVIOR_NAMES[i]`) and which are
/// `POSITIVE` (the rest are `NEGATIVE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BehaviorSet {
    pub placement: BehaviorPlacement,
    pub present: u16,
    pub positive: u16,
}

impl BehaviorSet {
    /// (name, is_positive) for each behaviour present, in rendering order.
    pub fn entries(&self) -> impl Iterator<Item = (&'static str, bool)> + '_ {
        BEHAVIOR_NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.present & (1 << i) != 0)
            .map(|(i, name)| (*name, self.positive & (1 << i) != 0))
    }
}

/// Bit for a behaviour name in [`BehaviorSet`] masks.
pub const fn behavior_bit(index: usize) -> u16 {
    1 << index
}

/// One System Log event, stored compactly; `render.rs` expands it to the LogEvent shape.
#[derive(Debug, Clone, PartialEq)]
pub struct LogEvent {
    pub uuid: u128,
    pub published_ms: i64,
    pub kind: EventKind,
    pub actor: Actor,
    pub target: Target,
    pub result: OutcomeResult,
    pub reason: Option<&'static str>,
    /// Rendered as `authenticationContext.externalSessionId` (see `ids::session_string`).
    pub session: u64,
    /// Index into `catalog::CITIES`.
    pub city: u16,
    /// Index into `catalog::AGENTS`.
    pub agent: u8,
    /// Last two octets of the client address.
    pub ip_host: u16,
    /// `debugContext.debugData.factor` (auth_via_mfa), or the factor a lifecycle event is about.
    pub factor: Option<MfaFactor>,
    pub behaviors: Vec<BehaviorSet>,
    pub risk_high: bool,
}

/// An admin-console session with a start but (so far) no end event.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAdminSession {
    pub session: u64,
    pub user: u32,
    pub start_ms: i64,
    pub city: u16,
}

/// Per-org rates drawn from the seed, so orgs differ in posture.
#[derive(Debug, Clone, PartialEq)]
pub struct OrgProfile {
    /// Share of ACTIVE users with an ACTIVE MFA factor.
    pub enroll_rate: f64,
    /// Share of enrolled users with a phishing-resistant factor.
    pub phish_rate: f64,
    /// Impossible-travel incidents per user per day.
    pub travel_rate: f64,
    /// Push denials per user per day.
    pub push_deny_rate: f64,
    /// Average sign-ins per ACTIVE user per day.
    pub signins_per_day: f64,
    /// Behaviour name the org's velocity rule uses (index into `BEHAVIOR_NAMES`).
    pub velocity_name: usize,
    /// Share of sign-ins logged the Identity Engine way (auth_via_mfa rather than deny_push).
    pub oie_share: f64,
}

/// A generated org: every object the simulated API serves, and its data clock.
#[derive(Debug, Clone)]
pub struct Org {
    pub seed: u64,
    /// `<word>-<n>.example.com`: user logins use it.
    pub domain: String,
    /// The org's name in `orn`s (`00o…`).
    pub org_id: String,
    /// The 3-character suffix of this org's object ids.
    pub cell: String,
    /// The user type id (`oty…`).
    pub user_type_id: String,
    pub now_ms: i64,
    /// Users in API list order.
    pub users: Vec<User>,
    pub apps: Vec<App>,
    pub groups: Vec<Group>,
    pub policies: Vec<Policy>,
    pub api_tokens: Vec<ApiToken>,
    pub admins: Vec<Admin>,
    /// Apps assigned to groups (their members reach the app with `scope` GROUP).
    pub group_apps: Vec<crate::graph::GroupApp>,
    /// Custom admin roles.
    pub custom_roles: Vec<crate::graph::CustomRole>,
    /// Resource sets custom roles are granted over.
    pub resource_sets: Vec<crate::graph::ResourceSet>,
    /// Role assignments other than users' standard roles (those are `admins`): standard
    /// roles held by groups, and custom roles held by users or groups.
    pub role_grants: Vec<crate::graph::RoleGrant>,
    /// System Log events sorted by `published` (ties keep insertion order).
    pub events: Vec<LogEvent>,
    pub open_admin_sessions: Vec<OpenAdminSession>,
    pub profile: OrgProfile,
    pub(crate) user_index: HashMap<String, usize>,
    pub(crate) logins: HashSet<String>,
    pub(crate) next_session: u64,
    pub(crate) next_uuid: u64,
}

impl Org {
    /// The org's data clock (epoch milliseconds).
    pub fn now_ms(&self) -> i64 {
        self.now_ms
    }

    /// The index of a user by id.
    pub fn user_position(&self, id: &str) -> Option<usize> {
        self.user_index.get(id).copied()
    }

    /// A user by id.
    pub fn user(&self, id: &str) -> Option<&User> {
        self.user_position(id).map(|i| &self.users[i])
    }
}
