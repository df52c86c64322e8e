//! Search spaces: TOML form, validation messages, sampling and the unit cube.

use lrctl_tune::{Fidelity, Param, ParamKind, SearchSpace, SpaceError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::Deserialize;

#[derive(Deserialize)]
struct MethodConfig {
    #[allow(dead_code)]
    name: String,
    search: SearchSpace,
}

fn parse(search: &str) -> Result<SearchSpace, String> {
    let text = format!("name = \"m\"\n{search}");
    toml::from_str::<MethodConfig>(&text)
        .map(|c| c.search)
        .map_err(|e| e.to_string())
}

#[test]
fn toml_search_table() {
    let space = parse(
        r#"
        [search.t0]
        type = "int"
        low = 1
        high = 50
        [search.lr]
        low = 1e-4
        high = 1.0
        log = true
        default = 0.01
        [search.eta_min]
        low = 0
        high = 0.005
        "#,
    )
    .unwrap();
    // Ordered by name, whatever the declaration order.
    let names: Vec<&str> = space.params().iter().map(|p| p.name.as_str()).collect();
    assert_eq!(names, ["eta_min", "lr", "t0"]);
    assert_eq!(
        space.params()[1].kind,
        ParamKind::Float {
            low: 1e-4,
            high: 1.0,
            log: true
        }
    );
    assert_eq!(space.params()[1].default, Some(0.01));
    assert_eq!(
        space.params()[2].kind,
        ParamKind::Int {
            low: 1,
            high: 50,
            log: false
        }
    );
    // Round trip through JSON.
    let json = serde_json::to_string(&space).unwrap();
    let back: SearchSpace = serde_json::from_str(&json).unwrap();
    assert_eq!(back, space);
}

#[test]
fn config_errors_name_the_parameter_and_the_problem() {
    let cases = [
        (
            "[search.lr]\nlow = 1.0\nhigh = 0.1",
            "parameter `lr`: low (1) is greater than high (0.1)",
        ),
        (
            "[search.lr]\nlow = 0.0\nhigh = 1.0\nlog = true",
            "parameter `lr`: a log range must be strictly positive, but low = 0",
        ),
        (
            "[search.wd]\nlow = -1.0\nhigh = 1.0\nlog = true",
            "parameter `wd`: a log range must be strictly positive, but low = -1",
        ),
        (
            "[search.lr]\nlow = 0.001\nhigh = 1.0\ndefault = 2.0",
            "parameter `lr`: default 2 is outside its range [0.001, 1]",
        ),
        (
            "[search.t0]\ntype = \"int\"\nlow = 1.5\nhigh = 10",
            "parameter `t0`: low of an integer parameter must be an integer (got 1.5)",
        ),
        (
            "[search.t0]\ntype = \"integer\"\nlow = 1\nhigh = 10",
            "parameter `t0`: unknown type \"integer\"",
        ),
        ("[search]", "search space is empty"),
    ];
    for (toml, expected) in cases {
        let err = parse(toml).unwrap_err();
        assert!(err.contains(expected), "{toml:?}: {err}");
    }
    // Unknown keys are rejected (a typo must not silently widen the space).
    assert!(parse("[search.lr]\nlow = 0.1\nhigh = 1\nlgo = true").is_err());
}

#[test]
fn validate_in_code() {
    let err = SearchSpace::new(vec![Param::float("lr", 0.0, 1.0, true)]).unwrap_err();
    assert!(matches!(err, SpaceError::LogNotPositive { ref name, .. } if name == "lr"));
    let err = SearchSpace::new(vec![Param::int("t0", 10, 1, false)]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "parameter `t0`: low (10) is greater than high (1)"
    );
    let err = SearchSpace::new(vec![
        Param::float("lr", 0.1, 1.0, false),
        Param::float("lr", 0.1, 1.0, false),
    ])
    .unwrap_err();
    assert_eq!(err.to_string(), "parameter `lr` is declared twice");
    assert_eq!(
        SearchSpace::new(vec![]).unwrap_err().to_string(),
        "search space is empty: declare at least one parameter"
    );
    let err = SearchSpace::new(vec![Param::int("t0", 1, 50, false).with_default(2.5)]).unwrap_err();
    assert!(err.to_string().contains("default of an integer parameter"));
}

#[test]
fn fidelity_validation() {
    assert!(Fidelity::new(1, 81, 3.0).is_ok());
    assert_eq!(
        Fidelity::new(0, 81, 3.0).unwrap_err().to_string(),
        "fidelity: min_budget must be positive"
    );
    assert_eq!(
        Fidelity::new(100, 20, 3.0).unwrap_err().to_string(),
        "fidelity: min_budget (100) is greater than max_budget (20)"
    );
    assert!(
        Fidelity::new(1, 81, 1.5)
            .unwrap_err()
            .to_string()
            .contains("eta")
    );
    let f: Fidelity = toml::from_str("min_budget = 20\nmax_budget = 100").unwrap();
    assert_eq!(f, Fidelity::new(20, 100, 3.0).unwrap());
    let err = toml::from_str::<Fidelity>("min_budget = 200\nmax_budget = 100\neta = 3")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("min_budget (200) is greater than max_budget (100)"),
        "{err}"
    );
}

#[test]
fn sampling_and_unit_cube() {
    let space = SearchSpace::new(vec![
        Param::float("lr", 1e-4, 1.0, true),
        Param::int("t0", 1, 50, false),
        Param::int("width", 1, 1024, true),
        Param::float("m", 0.0, 0.9, false).with_default(0.5),
    ])
    .unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let samples: Vec<_> = (0..4000).map(|_| space.sample(&mut rng)).collect();
    for c in &samples {
        assert!((1e-4..=1.0).contains(&c["lr"]));
        assert!((1.0..=50.0).contains(&c["t0"]) && c["t0"].fract() == 0.0);
        assert!((1.0..=1024.0).contains(&c["width"]) && c["width"].fract() == 0.0);
        // The unit cube round-trips.
        let u = space.to_unit(c);
        assert!(u.iter().all(|x| (0.0..=1.0).contains(x)));
        let back = space.from_unit(&u);
        assert!((back["lr"] / c["lr"] - 1.0).abs() < 1e-9);
        assert_eq!(back["t0"], c["t0"]);
        assert_eq!(back["width"], c["width"]);
    }
    // Log-uniform: about half the learning rates below the geometric centre 1e-2.
    let below = samples.iter().filter(|c| c["lr"] < 1e-2).count() as f64 / 4000.0;
    assert!((below - 0.5).abs() < 0.04, "{below}");
    // Linear ints: both ends as likely as the middle (each about 1/50).
    for v in [1.0, 25.0, 50.0] {
        let p = samples.iter().filter(|c| c["t0"] == v).count() as f64 / 4000.0;
        assert!((p - 0.02).abs() < 0.012, "P(t0 = {v}) = {p}");
    }
    let d = space.default_config();
    assert_eq!(d["m"], 0.5);
    assert!((d["lr"] - 1e-2).abs() < 1e-9);
}
