//! A connector whose `describe()` panics (plugin-directory rejection test).

wit_bindgen::generate!({ world: "connector", path: "../../../wit/0.1.0" });

struct BadDescribe;

impl Guest for BadDescribe {
    fn describe() -> Manifest {
        panic!("describe is broken on purpose")
    }

    fn check(_req: RunRequest) -> Result<(), ConnectorError> {
        Ok(())
    }

    fn run(_req: RunRequest) -> Result<RunSummary, ConnectorError> {
        Err(ConnectorError::Other("never runs".into()))
    }
}

export!(BadDescribe);
