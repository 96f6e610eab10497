//! CPU spent per request, per process, from `/proc`: the processes named with `--watch`
//! (and the load generator itself) are sampled when the measurement window opens and when
//! it closes; their user + system time over the window, divided by the requests answered
//! in it, is the work each request cost them. The machine's idle share over the window
//! says whether the figures were taken on a saturated machine.

use std::time::Duration;

/// Linux reports process times in USER_HZ ticks, 100 per second on every architecture's
/// user-visible ABI.
const TICKS_PER_SECOND: f64 = 100.0;

/// A process group to watch: a name and its pids (PostgreSQL is several processes).
#[derive(Debug, Clone)]
pub(crate) struct Watched {
    pub(crate) name: String,
    /// Given pids.
    pub(crate) pids: Vec<u32>,
    /// Or every process whose command name (`/proc/<pid>/comm`) is this, found when the
    /// window opens (a process that starts later is not counted).
    pub(crate) command: Option<String>,
}

/// Parses `name=pid[+pid...]` or `name=comm:COMMAND`.
pub(crate) fn parse_watch(spec: &str) -> anyhow::Result<Watched> {
    let (name, what) = spec.split_once('=').ok_or_else(|| {
        anyhow::anyhow!("--watch takes name=pid[+pid...] or name=comm:COMMAND, not {spec:?}")
    })?;
    if let Some(command) = what.strip_prefix("comm:") {
        anyhow::ensure!(!command.is_empty(), "--watch {name}=comm: names no command");
        return Ok(Watched {
            name: name.to_owned(),
            pids: Vec::new(),
            command: Some(command.to_owned()),
        });
    }
    let pids = what
        .split('+')
        .filter(|pid| !pid.is_empty())
        .map(|pid| pid.parse::<u32>())
        .collect::<Result<Vec<u32>, _>>()?;
    anyhow::ensure!(!pids.is_empty(), "--watch {name}= names no pid");
    Ok(Watched {
        name: name.to_owned(),
        pids,
        command: None,
    })
}

/// The pids of the processes whose command name is `command`.
fn pids_of_command(command: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
            (comm.trim_end() == command).then_some(pid)
        })
        .collect()
}

/// The watched groups with their pids resolved (for those named by command).
pub(crate) fn resolve(watched: &[Watched]) -> Vec<Watched> {
    watched
        .iter()
        .map(|group| match &group.command {
            Some(command) => Watched {
                name: group.name.clone(),
                pids: pids_of_command(command),
                command: None,
            },
            None => group.clone(),
        })
        .collect()
}

/// Seconds of CPU (user + system) a process has used, `None` once it is gone.
pub(crate) fn process_cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are plain.
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at 11 and 12.
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / TICKS_PER_SECOND)
}

/// Seconds of CPU (user + system) a process's children used, those it has waited for:
/// the media service's ffmpeg and pdftoppm, which its own time leaves out.
fn children_cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // cutime (16) and cstime (17).
    let cutime: f64 = fields.get(13)?.parse().ok()?;
    let cstime: f64 = fields.get(14)?.parse().ok()?;
    Some((cutime + cstime) / TICKS_PER_SECOND)
}

/// The machine's busy and total jiffies so far (`/proc/stat`'s first line).
fn machine_jiffies() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|value| value.parse().ok())
        .collect();
    let total: u64 = values.iter().sum();
    // idle + iowait
    let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

/// The CPU model, as `/proc/cpuinfo` names it, and the number of CPUs.
pub(crate) fn cpu_model() -> String {
    let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = info
        .lines()
        .find_map(|line| line.strip_prefix("model name"))
        .and_then(|rest| rest.split_once(':'))
        .map_or("unknown", |(_, model)| model.trim());
    let cpus = info
        .lines()
        .filter(|line| line.starts_with("processor"))
        .count();
    format!("{model} x{cpus}")
}

/// What was read when the window opened.
pub(crate) struct Sample {
    /// Each group's CPU seconds: its own, and its children's.
    processes: Vec<(String, f64, f64)>,
    machine: Option<(u64, u64)>,
}

/// The watched processes' samples at `from` and at `until` (resolved at `from`), taken
/// by a task of their own: the CPU of a scenario's measured window.
pub(crate) fn window(
    watched: Vec<Watched>,
    from: std::time::Instant,
    until: std::time::Instant,
) -> tokio::task::JoinHandle<(Sample, Sample)> {
    tokio::spawn(async move {
        tokio::time::sleep_until(from.into()).await;
        let watched = resolve(&watched);
        let before = sample(&watched);
        tokio::time::sleep_until(until.into()).await;
        (before, sample(&watched))
    })
}

/// Reads the watched processes (and this one) now.
pub(crate) fn sample(watched: &[Watched]) -> Sample {
    let mut processes: Vec<(String, f64, f64)> = watched
        .iter()
        .map(|group| {
            let seconds = group
                .pids
                .iter()
                .filter_map(|pid| process_cpu_seconds(&pid.to_string()))
                .sum();
            let children = group
                .pids
                .iter()
                .filter_map(|pid| children_cpu_seconds(&pid.to_string()))
                .sum();
            (group.name.clone(), seconds, children)
        })
        .collect();
    processes.push((
        "loadgen".to_owned(),
        process_cpu_seconds("self").unwrap_or(0.0),
        0.0,
    ));
    Sample {
        processes,
        machine: machine_jiffies(),
    }
}

/// Several windows as one: a zero sample and one that holds the sum of each window's
/// use (for [`report`] over the windows' summed length). Windows of the same processes.
pub(crate) fn sum(windows: &[(Sample, Sample)]) -> (Sample, Sample) {
    let zero = |sample: &Sample| Sample {
        processes: sample
            .processes
            .iter()
            .map(|(name, _, _)| (name.clone(), 0.0, 0.0))
            .collect(),
        machine: Some((0, 0)),
    };
    let Some((first, _)) = windows.first() else {
        return (
            Sample {
                processes: Vec::new(),
                machine: None,
            },
            Sample {
                processes: Vec::new(),
                machine: None,
            },
        );
    };
    let mut total = zero(first);
    for (before, after) in windows {
        for (sum, ((_, start, children_start), (_, end, children_end))) in total
            .processes
            .iter_mut()
            .zip(before.processes.iter().zip(&after.processes))
        {
            sum.1 += (end - start).max(0.0);
            sum.2 += (children_end - children_start).max(0.0);
        }
        total.machine = match (total.machine, before.machine, after.machine) {
            (Some((busy, all)), Some((busy0, all0)), Some((busy1, all1))) => Some((
                busy + busy1.saturating_sub(busy0),
                all + all1.saturating_sub(all0),
            )),
            _ => None,
        };
    }
    (zero(first), total)
}

/// One line: each process's CPU per request (µs) and its share of one core over the
/// window (and, as `NAME.children`, its children's when they used any: the media
/// service's ffmpeg), the machine's idle share, and the CPU model.
pub(crate) fn report(before: &Sample, after: &Sample, requests: usize, window: Duration) -> String {
    let mut parts = Vec::new();
    let requests = requests.max(1) as f64;
    let part = |name: &str, used: f64| {
        format!(
            "{name}={:.0}us/req({:.0}%core)",
            used * 1e6 / requests,
            used * 100.0 / window.as_secs_f64().max(0.001)
        )
    };
    for ((name, start, children_start), (_, end, children_end)) in
        before.processes.iter().zip(&after.processes)
    {
        parts.push(part(name, (end - start).max(0.0)));
        let children = children_end - children_start;
        if children > 0.0 {
            parts.push(part(&format!("{name}.children"), children));
        }
    }
    let idle = match (before.machine, after.machine) {
        (Some((busy0, total0)), Some((busy1, total1))) if total1 > total0 => {
            let busy = busy1.saturating_sub(busy0) as f64;
            let total = (total1 - total0) as f64;
            format!("{:.0}%", 100.0 * (1.0 - busy / total))
        }
        _ => "unknown".to_owned(),
    };
    format!(
        "cpu {} machine_idle={idle} cpu_model=\"{}\"",
        parts.join(" "),
        cpu_model()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_specs_parse_and_bad_ones_do_not() {
        let watched = parse_watch("postgres=10+11").expect("parses");
        assert_eq!(watched.name, "postgres");
        assert_eq!(watched.pids, vec![10, 11]);
        let by_command = parse_watch("redis=comm:redis-server").expect("parses");
        assert_eq!(by_command.command.as_deref(), Some("redis-server"));
        assert!(parse_watch("redis=comm:").is_err());
        assert!(parse_watch("postgres").is_err());
        assert!(parse_watch("postgres=").is_err());
        assert!(parse_watch("postgres=x").is_err());
    }

    #[test]
    fn windows_sum_to_one_report() {
        let sample = |own: f64, busy: u64, all: u64| Sample {
            processes: vec![("talkapp".to_owned(), own, 0.0)],
            machine: Some((busy, all)),
        };
        // Two windows of 1 s: 0.2 s and 0.3 s of CPU; the machine half busy in each.
        let windows = [
            (sample(1.0, 100, 200), sample(1.2, 200, 400)),
            (sample(5.0, 900, 1000), sample(5.3, 1000, 1200)),
        ];
        let (before, after) = sum(&windows);
        let line = report(&before, &after, 1000, Duration::from_secs(2));
        // 0.5 s over 1,000 requests, 25 % of a core over 2 s; idle half of the time.
        assert!(
            line.starts_with("cpu talkapp=500us/req(25%core) machine_idle=50% "),
            "{line}"
        );
    }

    #[test]
    fn this_process_has_a_cpu_time() {
        assert!(process_cpu_seconds("self").is_some());
    }

    #[test]
    fn the_cpu_of_children_waited_for_is_reported_apart() {
        let before = children_cpu_seconds("self").expect("a children's time");
        // A child that spends CPU, waited for: its time becomes this process's children's.
        let status = std::process::Command::new("sh")
            .args(["-c", "i=0; while [ $i -lt 300000 ]; do i=$((i+1)); done"])
            .status()
            .expect("sh runs");
        assert!(status.success());
        let after = children_cpu_seconds("self").expect("a children's time");
        assert!(after > before, "children's CPU {before} → {after}");
        let sample = |own: f64, children: f64| Sample {
            processes: vec![("talkapp".to_owned(), own, children)],
            machine: None,
        };
        let line = report(
            &sample(1.0, 2.0),
            &sample(1.5, 2.3),
            1000,
            Duration::from_secs(10),
        );
        assert!(
            line.starts_with("cpu talkapp=500us/req(5%core) talkapp.children=300us/req(3%core) "),
            "{line}"
        );
        let line = report(
            &sample(1.0, 2.0),
            &sample(1.5, 2.0),
            1000,
            Duration::from_secs(10),
        );
        assert!(!line.contains("children"), "{line}");
    }
}
