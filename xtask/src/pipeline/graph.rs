//! The stage graph: which stage may start now, and what a failure means for the others.
//!
//! Pure bookkeeping, no processes, so every scheduling rule is tested with plain values.

use anyhow::{Result, bail};

use super::stage::CargoProfile;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    Passed,
    /// Passed before with identical inputs, so not run; `saved` is what that run took.
    Cached(std::time::Duration),
    Failed(String),
    /// Not run: a missing tool (locally), a need that did not pass, or a fail-fast stop.
    Skipped(String),
    /// Started, then stopped because another stage failed or the run was interrupted.
    Cancelled,
    /// The stage looked and could not do its work here (an unreachable service, say): never a
    /// pass, but stages after it still run, so a summary can report it.
    NotRun(String),
}

impl Outcome {
    pub fn label(&self) -> &'static str {
        match self {
            Outcome::Passed => "passed",
            Outcome::Cached(_) => "cached",
            Outcome::Failed(_) => "failed",
            Outcome::Skipped(_) => "skipped",
            Outcome::Cancelled => "cancelled",
            Outcome::NotRun(_) => "not run",
        }
    }

    pub fn reason(&self) -> Option<&str> {
        match self {
            Outcome::Failed(r) | Outcome::Skipped(r) | Outcome::NotRun(r) => Some(r),
            Outcome::Passed | Outcome::Cached(_) | Outcome::Cancelled => None,
        }
    }

    /// Passed now or, with the same inputs, before.
    pub fn is_success(&self) -> bool {
        matches!(self, Outcome::Passed | Outcome::Cached(_))
    }

    /// Whether stages that come after this one may start.
    pub fn unblocks(&self) -> bool {
        self.is_success() || matches!(self, Outcome::NotRun(_))
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum State {
    Pending,
    Running,
    Done(Outcome),
}

/// One node per stage, in declaration order; a stage's needs are declared before it.
pub struct Node {
    pub name: &'static str,
    pub needs: Vec<usize>,
    pub cargo: Option<CargoProfile>,
}

pub struct Graph {
    nodes: Vec<Node>,
    states: Vec<State>,
}

impl Graph {
    /// `needs` name other stages of `stages`; needs outside it were deselected and count as met.
    pub fn new(
        stages: &[(&'static str, Vec<&'static str>, Option<CargoProfile>)],
    ) -> Result<Graph> {
        let mut nodes = Vec::with_capacity(stages.len());
        for (index, (name, needs, cargo)) in stages.iter().enumerate() {
            let mut need_indices = Vec::new();
            for need in needs {
                match stages.iter().position(|(n, _, _)| n == need) {
                    Some(i) if i < index => need_indices.push(i),
                    Some(_) => {
                        bail!("stage `{name}` needs `{need}`, which must be declared before it")
                    }
                    None => {} // deselected with --only/--skip
                }
            }
            nodes.push(Node {
                name,
                needs: need_indices,
                cargo: *cargo,
            });
        }
        let states = vec![State::Pending; nodes.len()];
        Ok(Graph { nodes, states })
    }

    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    pub fn name(&self, index: usize) -> &'static str {
        self.nodes[index].name
    }

    pub fn state(&self, index: usize) -> &State {
        &self.states[index]
    }

    /// Stages that can start now, in declaration order: every need passed, at most one stage
    /// per cargo profile running at a time, and at most `jobs` stages running in all.
    pub fn ready(&self, jobs: usize) -> Vec<usize> {
        let mut free = jobs.saturating_sub(self.running().len());
        let mut cargo_busy: Vec<CargoProfile> = self
            .nodes
            .iter()
            .zip(&self.states)
            .filter(|(_, state)| **state == State::Running)
            .filter_map(|(node, _)| node.cargo)
            .collect();
        let mut ready = Vec::new();
        for (index, node) in self.nodes.iter().enumerate() {
            if self.states[index] != State::Pending {
                continue;
            }
            let needs_met = node
                .needs
                .iter()
                .all(|&n| matches!(&self.states[n], State::Done(outcome) if outcome.unblocks()));
            let cargo_free = node
                .cargo
                .is_none_or(|profile| !cargo_busy.contains(&profile));
            if free == 0 || !needs_met || !cargo_free {
                continue;
            }
            cargo_busy.extend(node.cargo);
            free -= 1;
            ready.push(index);
        }
        ready
    }

    pub fn start(&mut self, index: usize) {
        debug_assert_eq!(self.states[index], State::Pending);
        self.states[index] = State::Running;
    }

    /// Records a result and skips every pending stage that can now never run, with the reason.
    pub fn finish(&mut self, index: usize, outcome: Outcome) {
        self.states[index] = State::Done(outcome);
        self.skip_blocked();
    }

    /// Fail-fast: nothing pending will start.
    pub fn skip_pending(&mut self, reason: &str) {
        for state in &mut self.states {
            if *state == State::Pending {
                *state = State::Done(Outcome::Skipped(reason.to_owned()));
            }
        }
    }

    pub fn running(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.states[i] == State::Running)
            .collect()
    }

    pub fn is_finished(&self) -> bool {
        self.states.iter().all(|s| matches!(s, State::Done(_)))
    }

    fn skip_blocked(&mut self) {
        // Declaration order is topological, so one pass carries a skip down the whole chain.
        for index in 0..self.nodes.len() {
            if self.states[index] != State::Pending {
                continue;
            }
            let blocked = self.nodes[index]
                .needs
                .iter()
                .find(|&&n| matches!(&self.states[n], State::Done(outcome) if !outcome.unblocks()));
            if let Some(&need) = blocked {
                let reason = format!(
                    "needs {}, which {}",
                    self.nodes[need].name,
                    match &self.states[need] {
                        State::Done(Outcome::Failed(_)) => "failed",
                        State::Done(Outcome::Cancelled) => "was cancelled",
                        _ => "did not run",
                    }
                );
                self.states[index] = State::Done(Outcome::Skipped(reason));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEV: Option<CargoProfile> = Some(CargoProfile::Dev);
    const RELEASE: Option<CargoProfile> = Some(CargoProfile::Release);

    fn graph(stages: &[(&'static str, &[&'static str], Option<CargoProfile>)]) -> Graph {
        let stages: Vec<_> = stages
            .iter()
            .map(|(n, needs, c)| (*n, needs.to_vec(), *c))
            .collect();
        Graph::new(&stages).unwrap()
    }

    #[test]
    fn independent_stages_start_together_but_cargo_stages_take_turns() {
        let mut g = graph(&[("lint", &[], DEV), ("check", &[], DEV), ("npm", &[], None)]);
        assert_eq!(g.ready(8), [0, 2]);
        g.start(0);
        g.start(2);
        assert_eq!(g.ready(8), Vec::<usize>::new());
        g.finish(0, Outcome::Passed);
        assert_eq!(g.ready(8), [1]);
    }

    #[test]
    fn a_release_build_runs_beside_the_dev_builds_but_not_beside_another() {
        let mut g = graph(&[
            ("test", &[], DEV),
            ("images", &[], RELEASE),
            ("package", &[], RELEASE),
        ]);
        assert_eq!(g.ready(8), [0, 1]);
        g.start(0);
        g.start(1);
        assert_eq!(g.ready(8), Vec::<usize>::new());
        g.finish(1, Outcome::Passed);
        assert_eq!(g.ready(8), [2]);
    }

    #[test]
    fn no_more_than_jobs_stages_run_at_once() {
        let mut g = graph(&[("a", &[], None), ("b", &[], None), ("c", &[], None)]);
        assert_eq!(g.ready(2), [0, 1]);
        g.start(0);
        assert_eq!(g.ready(2), [1]);
        g.start(1);
        assert_eq!(g.ready(2), Vec::<usize>::new());
        g.finish(0, Outcome::Passed);
        assert_eq!(g.ready(2), [2]);
    }

    #[test]
    fn a_stage_waits_for_its_needs() {
        let mut g = graph(&[("deps", &[], None), ("test", &["deps"], None)]);
        assert_eq!(g.ready(8), [0]);
        g.start(0);
        g.finish(0, Outcome::Passed);
        assert_eq!(g.ready(8), [1]);
    }

    #[test]
    fn a_failure_skips_everything_downstream_with_the_reason() {
        let mut g = graph(&[
            ("unit", &[], None),
            ("integration", &["unit"], None),
            ("e2e", &["integration"], None),
            ("frontend", &[], None),
        ]);
        g.start(0);
        g.finish(0, Outcome::Failed("exit 101".into()));
        assert_eq!(
            *g.state(1),
            State::Done(Outcome::Skipped("needs unit, which failed".into()))
        );
        assert_eq!(
            *g.state(2),
            State::Done(Outcome::Skipped(
                "needs integration, which did not run".into()
            ))
        );
        assert_eq!(
            *g.state(3),
            State::Pending,
            "unrelated stages still run under --keep-going"
        );
        assert_eq!(g.ready(8), [3]);
    }

    #[test]
    fn fail_fast_skips_all_pending() {
        let mut g = graph(&[("a", &[], None), ("b", &[], DEV), ("c", &[], DEV)]);
        g.start(0);
        g.start(1);
        g.skip_pending("stopped after a failure");
        assert_eq!(
            *g.state(2),
            State::Done(Outcome::Skipped("stopped after a failure".into()))
        );
        assert_eq!(g.running(), [0, 1]);
        assert!(!g.is_finished());
    }

    #[test]
    fn deselected_needs_count_as_met() {
        let g = graph(&[("test-frontend", &["frontend-deps"], None)]);
        assert_eq!(g.ready(8), [0]);
    }

    #[test]
    fn needs_must_be_declared_first() {
        let stages = vec![("a", vec!["b"], None), ("b", vec![], None)];
        let err = Graph::new(&stages).err().unwrap();
        assert_eq!(
            err.to_string(),
            "stage `a` needs `b`, which must be declared before it"
        );
    }
}
