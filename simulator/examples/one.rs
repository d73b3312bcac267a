//! Runs one seed and prints a summary (development aid).
fn main() {
    let seed: u64 = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1);
    let clients: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(4);
    let faults = std::env::args().nth(3).unwrap_or_else(|| "swarm".into());
    let settings = simulator::Settings {
        clients,
        duration_secs: 20,
        faults: faults.parse().unwrap(),
    };
    let plan = simulator::Plan::generate(seed, &settings);
    let t = std::time::Instant::now();
    let out = simulator::check(plan).unwrap();
    println!(
        "kinds {:?} events {} sim_ms {} steps {} wall {:?} digest {:016x}",
        out.plan.options.fault_kinds,
        out.result.history.events.len(),
        out.result.sim_ms,
        out.result.steps,
        t.elapsed(),
        out.result.history.digest()
    );
    if std::env::var("HIST").is_ok() {
        for e in &out.result.history.events {
            println!("{}", e.line());
        }
    }
    for v in &out.violations {
        println!("VIOLATION {} {}", v.property, v.message);
        for w in &v.witness {
            println!("   {}", w.line());
        }
    }
}
