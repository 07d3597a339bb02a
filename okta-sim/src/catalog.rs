//! Static tables the generator draws from: people's names, company words for the org's
//! domain, cities with their network details, browsers, the app catalogue, group names,
//! recovery questions and factor device details.

/// Given names.
#[rustfmt::skip]
pub const FIRST_NAMES: &[&str] = &[
    "Alice", "Bob", "Carol", "David", "Eve", "Frank", "Grace", "Heidi", "Ivan", "Judy",
    "Karl", "Laura", "Mallory", "Niaj", "Olivia", "Peggy", "Quentin", "Rupert", "Sybil",
    "Trent", "Uma", "Victor", "Walter", "Xena", "Yusuf", "Zoe", "Aisha", "Bruno", "Chen",
    "Dmitri", "Elena", "Fatima", "Gustavo", "Hana", "Igor", "Jasmine", "Kenji", "Leila",
    "Mateo", "Nadia", "Omar", "Priya", "Rafael", "Sofia", "Tariq", "Ulla", "Valentina",
    "Wei", "Ximena", "Yara", "Zanele", "Amara", "Benedikt", "Camille", "Diego", "Emeka",
    "Freya", "Giorgio", "Hiroshi", "Ines", "Jonas", "Kavya", "Lucas", "Maya", "Nikolai",
    "Oskar", "Paula", "Rosa", "Santiago", "Thea", "Vikram", "Wanjiru", "Yosef", "Anders",
    "Beatriz", "Callum", "Deepa", "Esther", "Farid", "Greta", "Hugo", "Isla", "Jamal",
    "Katarina", "Liam", "Mei", "Noah", "Orla", "Pedro", "Ravi", "Sara", "Tomas", "Vera",
];

/// Family names.
#[rustfmt::skip]
pub const LAST_NAMES: &[&str] = &[
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis",
    "Rodriguez", "Martinez", "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson",
    "Thomas", "Taylor", "Moore", "Jackson", "Martin", "Lee", "Perez", "Thompson", "White",
    "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson", "Walker", "Young",
    "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores", "Green",
    "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter",
    "Roberts", "Okafor", "Kowalski", "Nakamura", "Schmidt", "Müller", "Rossi", "Dubois",
    "Haddad", "Ivanova", "Papadopoulos", "Singh", "Patel", "Kim", "Park", "Chen", "Wang",
    "Silva", "Santos", "Costa", "Novak", "Horvath", "Jensen", "Larsen", "O'Brien",
    "Murphy", "Byrne", "Fischer", "Weber", "Bianchi", "Moreau", "Lindqvist", "Berg",
    "Abebe", "Mensah", "Tanaka", "Sato", "Yilmaz", "Demir", "Cohen", "Levi", "Gupta",
];

/// Words for the org's example domain (`<word>-<n>.example.com`).
pub const COMPANY_WORDS: &[&str] = &[
    "acme",
    "globex",
    "initech",
    "umbrella",
    "hooli",
    "stark",
    "wayne",
    "wonka",
    "tyrell",
    "cyberdyne",
    "soylent",
    "vandelay",
    "dunder",
    "prestige",
    "oscorp",
    "gringotts",
    "monarch",
    "nakatomi",
    "massive",
    "aperture",
];

/// A city with the network details Okta's System Log reports for it.
#[derive(Debug, Clone, Copy)]
pub struct City {
    pub city: &'static str,
    pub state: &'static str,
    pub country: &'static str,
    pub postal_code: Option<&'static str>,
    pub lat: f64,
    pub lon: f64,
    /// First two octets of the addresses used there.
    pub ip_prefix: (u8, u8),
    pub as_number: u32,
    pub as_org: &'static str,
    pub isp: &'static str,
    pub domain: &'static str,
}

#[allow(clippy::too_many_arguments)] // a row of the table below
const fn city(
    city: &'static str,
    state: &'static str,
    country: &'static str,
    postal_code: Option<&'static str>,
    lat: f64,
    lon: f64,
    ip_prefix: (u8, u8),
    as_number: u32,
    as_org: &'static str,
    isp: &'static str,
    domain: &'static str,
) -> City {
    City {
        city,
        state,
        country,
        postal_code,
        lat,
        lon,
        ip_prefix,
        as_number,
        as_org,
        isp,
        domain,
    }
}

/// Where the org's people normally work from. Indexes below `HOME_CITIES` are home cities;
/// the rest are far-away places used for impossible-travel sign-ins.
#[rustfmt::skip]
pub const CITIES: &[City] = &[
    city("New York", "New York", "United States", Some("10013"), 40.7157, -74.01, (71, 190), 7018, "at&t corp.", "att services inc", "sbcglobal.net"),
    city("San Francisco", "California", "United States", Some("94107"), 37.7697, -122.3933, (73, 158), 7922, "comcast cable communications, llc", "comcast cable", "comcast.net"),
    city("Chicago", "Illinois", "United States", Some("60601"), 41.8858, -87.6181, (98, 213), 7922, "comcast cable communications, llc", "comcast cable", "comcast.net"),
    city("Austin", "Texas", "United States", Some("78701"), 30.2713, -97.7426, (70, 114), 11427, "charter communications inc", "spectrum", "rr.com"),
    city("Seattle", "Washington", "United States", Some("98104"), 47.6036, -122.3294, (50, 35), 20115, "charter communications", "spectrum", "charter.com"),
    city("Boston", "Massachusetts", "United States", Some("02110"), 42.3568, -71.0552, (96, 237), 701, "verizon", "verizon", "verizon.net"),
    city("Denver", "Colorado", "United States", Some("80202"), 39.7525, -104.9995, (67, 176), 209, "centurylink communications, llc", "centurylink", "qwest.net"),
    city("Atlanta", "Georgia", "United States", Some("30350"), 33.9794, -84.3459, (99, 108), 7018, "at&t corp.", "att services inc", "sbcglobal.net"),
    city("Dublin", "California", "United States", Some("94568"), 37.7201, -121.919, (67, 43), 7922, "comcast cable communications, llc", "comcast cable", "comcast.net"),
    city("London", "England", "United Kingdom", Some("EC2V"), 51.5164, -0.093, (81, 2), 5089, "virgin media limited", "virgin media", "virginm.net"),
    city("Dublin", "Leinster", "Ireland", Some("D02"), 53.3382, -6.2591, (86, 41), 5466, "eircom limited", "eir", "eircom.net"),
    city("Berlin", "Land Berlin", "Germany", Some("10115"), 52.5321, 13.3849, (84, 190), 3320, "deutsche telekom ag", "deutsche telekom ag", "t-ipconnect.de"),
    city("Amsterdam", "North Holland", "Netherlands", Some("1012"), 52.3740, 4.8897, (83, 85), 1136, "kpn b.v.", "kpn", "kpn.net"),
    city("Toronto", "Ontario", "Canada", Some("M5H"), 43.6510, -79.3832, (99, 230), 812, "rogers communications canada inc.", "rogers", "rogers.com"),
    city("Paris", "Ile-de-France", "France", Some("75002"), 48.8686, 2.3431, (90, 3), 3215, "orange s.a.", "orange", "orange.fr"),
    city("Herzliya", "Tel Aviv", "Israel", None, 32.1678, 34.8205, (167, 220), 3598, "microsoft corporation", "microsoft corporation", "."),
    city("Sydney", "New South Wales", "Australia", Some("2000"), -33.8688, 151.2093, (101, 160), 1221, "telstra corporation ltd", "telstra", "bigpond.net.au"),
    // Far away places (impossible travel).
    city("Lagos", "Lagos", "Nigeria", None, 6.4531, 3.3958, (102, 89), 29465, "mtn nigeria", "mtn nigeria", "mtnnigeria.net"),
    city("Moscow", "Moscow", "Russia", Some("101000"), 55.7522, 37.6156, (95, 165), 8359, "mts pjsc", "mts pjsc", "mts.ru"),
    city("Sao Paulo", "Sao Paulo", "Brazil", Some("01000"), -23.5475, -46.6361, (177, 92), 28573, "claro nxt telecomunicacoes ltda", "claro", "virtua.com.br"),
    city("Singapore", "Singapore", "Singapore", Some("018989"), 1.2897, 103.8501, (116, 14), 9506, "singtel fibre broadband", "singtel", "singnet.com.sg"),
    city("Mumbai", "Maharashtra", "India", Some("400001"), 19.0728, 72.8826, (103, 21), 55836, "reliance jio infocomm limited", "jio", "jio.com"),
    city("Tokyo", "Tokyo", "Japan", Some("100-0001"), 35.6895, 139.6917, (126, 75), 2516, "kddi corporation", "kddi", "dion.ne.jp"),
    city("Johannesburg", "Gauteng", "South Africa", Some("2000"), -26.2023, 28.0436, (41, 13), 37457, "telkom sa ltd.", "telkom", "telkomsa.net"),
    city("Jakarta", "Jakarta", "Indonesia", None, -6.2146, 106.8451, (36, 85), 7713, "pt telekomunikasi indonesia", "telkom indonesia", "telkom.net.id"),
    city("Bucharest", "Bucuresti", "Romania", Some("010011"), 44.4323, 26.1063, (86, 120), 8708, "rcs & rds net", "digi", "rdsnet.ro"),
    city("Hanoi", "Hanoi", "Vietnam", None, 21.0245, 105.8412, (14, 160), 45899, "vnpt corp", "vnpt", "vnpt.vn"),
];

/// How many entries at the start of [`CITIES`] are home cities.
pub const HOME_CITIES: usize = 17;

/// A browser/OS combination as the System Log's `client.userAgent` shows it.
#[derive(Debug, Clone, Copy)]
pub struct Agent {
    pub raw: &'static str,
    pub os: &'static str,
    pub browser: &'static str,
    pub device: &'static str,
}

/// User agents people sign in with.
#[rustfmt::skip]
pub const AGENTS: &[Agent] = &[
    Agent { raw: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36", os: "Mac OS X", browser: "CHROME", device: "Computer" },
    Agent { raw: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87", os: "Windows 10", browser: "CHROMIUM_EDGE", device: "Computer" },
    Agent { raw: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:128.0) Gecko/20100101 Firefox/128.0", os: "Mac OS X", browser: "FIREFOX", device: "Computer" },
    Agent { raw: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36", os: "Windows 10", browser: "CHROME", device: "Computer" },
    Agent { raw: "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", os: "Mac OS X", browser: "SAFARI", device: "Computer" },
    Agent { raw: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", os: "iOS", browser: "MOBILE_SAFARI", device: "Mobile" },
    Agent { raw: "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Mobile Safari/537.36", os: "Android", browser: "CHROME", device: "Mobile" },
    Agent { raw: "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/127.0.0.0 Safari/537.36", os: "Linux", browser: "CHROME", device: "Computer" },
];

/// An application an org can have, as the apps list shows it.
#[derive(Debug, Clone, Copy)]
pub struct AppTemplate {
    /// The app's catalogue name (`salesforce`, `google`, `oidc_client`, ...).
    pub name: &'static str,
    pub label: &'static str,
    pub sign_on_mode: &'static str,
    /// Names of the links users get on their dashboard.
    pub links: &'static [&'static str],
    pub logo: &'static str,
}

/// The app catalogue; the first three are Okta's own apps, always present.
#[rustfmt::skip]
pub const APP_TEMPLATES: &[AppTemplate] = &[
    AppTemplate { name: "saasure", label: "Okta Admin Console", sign_on_mode: "OPENID_CONNECT", links: &["admin"], logo: "okta-admin" },
    AppTemplate { name: "okta_enduser", label: "Okta Dashboard", sign_on_mode: "OPENID_CONNECT", links: &[], logo: "okta-dashboard" },
    AppTemplate { name: "okta_browser_plugin", label: "Okta Browser Plugin", sign_on_mode: "OPENID_CONNECT", links: &[], logo: "okta-plugin" },
    AppTemplate { name: "google", label: "Google Workspace", sign_on_mode: "SAML_2_0", links: &["mail", "calendar", "drive"], logo: "google" },
    AppTemplate { name: "salesforce", label: "Salesforce.com", sign_on_mode: "SAML_2_0", links: &["login"], logo: "salesforce_logo" },
    AppTemplate { name: "slack", label: "Slack", sign_on_mode: "SAML_2_0", links: &["slack_link"], logo: "slack" },
    AppTemplate { name: "boxnet", label: "Box", sign_on_mode: "SAML_2_0", links: &["login"], logo: "box" },
    AppTemplate { name: "zoomus", label: "Zoom", sign_on_mode: "SAML_2_0", links: &["login"], logo: "zoom" },
    AppTemplate { name: "workday", label: "Workday", sign_on_mode: "SAML_2_0", links: &["login"], logo: "workday" },
    AppTemplate { name: "github_enterprise_cloud", label: "GitHub Enterprise Cloud", sign_on_mode: "SAML_2_0", links: &["login"], logo: "github" },
    AppTemplate { name: "amazon_aws", label: "AWS Account Federation", sign_on_mode: "SAML_2_0", links: &["login"], logo: "aws" },
    AppTemplate { name: "atlassian", label: "Atlassian Cloud", sign_on_mode: "SAML_2_0", links: &["jira", "confluence"], logo: "atlassian" },
    AppTemplate { name: "office365", label: "Microsoft Office 365", sign_on_mode: "WS_FEDERATION", links: &["outlook", "teams", "sharepoint"], logo: "office365" },
    AppTemplate { name: "servicenow_ud", label: "ServiceNow", sign_on_mode: "SAML_2_0", links: &["login"], logo: "servicenow" },
    AppTemplate { name: "zendesk", label: "Zendesk", sign_on_mode: "SAML_2_0", links: &["login"], logo: "zendesk" },
    AppTemplate { name: "template_swa", label: "Payroll Portal", sign_on_mode: "BROWSER_PLUGIN", links: &["login"], logo: "template_swa" },
    AppTemplate { name: "oidc_client", label: "Internal Expenses", sign_on_mode: "OPENID_CONNECT", links: &["oidc_client_link"], logo: "oidc" },
    AppTemplate { name: "bookmark", label: "Benefits Handbook", sign_on_mode: "BOOKMARK", links: &["login"], logo: "bookmark" },
    AppTemplate { name: "dropbox_for_business", label: "Dropbox Business", sign_on_mode: "SAML_2_0", links: &["login"], logo: "dropbox" },
    AppTemplate { name: "tableau_online", label: "Tableau Online", sign_on_mode: "SAML_2_0", links: &["login"], logo: "tableau" },
];

/// Department-like group names (`OKTA_GROUP`).
pub const GROUP_NAMES: &[(&str, &str)] = &[
    ("Engineering", "All engineers"),
    ("Sales", "Sales and account management"),
    ("Marketing", "Marketing team"),
    ("Finance", "Finance and accounting"),
    ("People Ops", "Human resources"),
    ("Legal", "Legal and compliance"),
    ("Support", "Customer support"),
    ("IT Admins", "People who administer IT systems"),
    ("Contractors", "External contractors"),
    ("Executives", "Leadership team"),
    ("Security", "Security engineering"),
    ("Design", "Product design"),
    ("Data", "Data and analytics"),
    ("West Coast users", "All users West of The Rockies"),
    ("EMEA", "Europe, Middle East and Africa"),
    ("APAC", "Asia Pacific"),
    ("Interns", "Summer interns"),
    ("VPN Users", "Allowed on the corporate VPN"),
];

/// Recovery questions (`credentials.recovery_question.question`) and factor questions.
pub const QUESTIONS: &[(&str, &str)] = &[
    (
        "disliked_food",
        "What is the food you least liked as a child?",
    ),
    (
        "name_of_first_plush_toy",
        "What is the name of your first stuffed animal?",
    ),
    (
        "first_award",
        "What did you earn your first medal or award for?",
    ),
    (
        "favorite_security_question",
        "What is your favorite security question?",
    ),
    (
        "favorite_toy",
        "What is the toy/stuffed animal you liked the most as a kid?",
    ),
    (
        "first_computer_game",
        "What was the first computer game you played?",
    ),
    ("favorite_movie_quote", "What is your favorite movie quote?"),
    ("favorite_art_piece", "What is your favorite piece of art?"),
];

/// Phone/computer models for push, FastPass and WebAuthn factor profiles:
/// (deviceType, name, platform, version).
pub const DEVICES: &[(&str, &str, &str, &str)] = &[
    ("SmartPhone_IPhone", "iPhone 15", "IOS", "17.5.1"),
    ("SmartPhone_IPhone", "iPhone 13", "IOS", "16.7.8"),
    ("SmartPhone_Android", "Pixel 8", "ANDROID", "14"),
    ("SmartPhone_Android", "Galaxy S23", "ANDROID", "14"),
    ("Desktop_Mac", "MacBookPro18,3", "MACOS", "14.6.0"),
    (
        "Desktop_Windows",
        "DESKTOP-7F3K2LQ",
        "WINDOWS",
        "10.0.22631",
    ),
];

/// WebAuthn authenticator names.
pub const AUTHENTICATOR_NAMES: &[&str] = &[
    "Touch ID",
    "Windows Hello",
    "YubiKey 5 NFC",
    "Google Titan Key",
    "iCloud Keychain",
];
