//! Group commit without a thread of its own: callers queue jobs, and one of them (the leader)
//! commits everything queued in one go while the others wait for it. Jobs queued during a
//! commit go in the next one, led by one of their callers. So a commit that costs the same for
//! one job as for many (a redb transaction, an fsync) is paid once per batch, not per caller,
//! and a lone caller pays no hand-off to another thread.

use std::collections::HashMap;
use std::panic::AssertUnwindSafe;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// Batches jobs of type `J` into commits.
pub(crate) struct GroupCommit<J> {
    state: Mutex<State<J>>,
    done: Condvar,
}

struct State<J> {
    /// Jobs not yet taken by a leader, numbered `done_through + (taken while committing)..next`.
    queue: Vec<J>,
    /// The number the next job gets.
    next: u64,
    /// Jobs numbered below this are committed (or failed).
    done_through: u64,
    /// A leader is committing a batch.
    committing: bool,
    /// Why each failed job failed, until its caller reads it.
    failed: HashMap<u64, String>,
}

impl<J> Default for GroupCommit<J> {
    fn default() -> Self {
        GroupCommit {
            state: Mutex::new(State {
                queue: Vec::new(),
                next: 0,
                done_through: 0,
                committing: false,
                failed: HashMap::new(),
            }),
            done: Condvar::new(),
        }
    }
}

impl<J> GroupCommit<J> {
    fn lock(&self) -> MutexGuard<'_, State<J>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Queue `job` and return once a commit that holds it has ended: `Err` with the commit's
    /// error if it failed. `commit` is called (by this caller or not at all) with every job
    /// queued when this caller leads a commit, this one among them.
    pub(crate) fn submit(
        &self,
        job: J,
        commit: impl FnOnce(Vec<J>) -> Result<(), String>,
    ) -> Result<(), String> {
        let mut commit = Some(commit);
        let mut st = self.lock();
        let id = st.next;
        st.next += 1;
        st.queue.push(job);
        loop {
            if st.done_through > id {
                return st.failed.remove(&id).map_or(Ok(()), Err);
            }
            // No commit running: every job not done is queued, this one too. Lead.
            if !st.committing
                && let Some(commit) = commit.take()
            {
                let jobs = std::mem::take(&mut st.queue);
                let end = st.next;
                st.committing = true;
                drop(st);
                let result = std::panic::catch_unwind(AssertUnwindSafe(|| commit(jobs)))
                    .unwrap_or_else(|_| Err("the commit panicked".to_owned()));
                st = self.lock();
                if let Err(e) = result {
                    for failed in st.done_through..end {
                        st.failed.insert(failed, e.clone());
                    }
                }
                st.done_through = end;
                st.committing = false;
                self.done.notify_all();
                continue;
            }
            st = self.done.wait(st).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_of_concurrent_callers_is_committed_exactly_once() {
        let batches: Mutex<Vec<Vec<u32>>> = Mutex::default();
        let group = GroupCommit::default();
        std::thread::scope(|s| {
            for t in 0..8u32 {
                let (group, batches) = (&group, &batches);
                s.spawn(move || {
                    for i in 0..200 {
                        group
                            .submit(t * 1000 + i, |jobs| {
                                batches.lock().unwrap().push(jobs);
                                Ok(())
                            })
                            .unwrap();
                    }
                });
            }
        });
        let batches = batches.into_inner().unwrap();
        let mut all: Vec<u32> = batches.iter().flatten().copied().collect();
        all.sort_unstable();
        let expected: Vec<u32> = (0..8)
            .flat_map(|t| (0..200).map(move |i| t * 1000 + i))
            .collect();
        assert_eq!(all, expected);
    }

    #[test]
    fn jobs_queued_during_a_commit_share_the_next_one() {
        let group = GroupCommit::default();
        let batches: Mutex<Vec<Vec<u32>>> = Mutex::default();
        let record = |jobs: Vec<u32>| {
            batches.lock().unwrap().push(jobs);
            Ok(())
        };
        std::thread::scope(|s| {
            group
                .submit(0, |jobs| {
                    // While this commit runs, two more callers queue their jobs.
                    for j in 1..=2 {
                        let (group, record) = (&group, &record);
                        s.spawn(move || group.submit(j, record).unwrap());
                    }
                    while group.lock().queue.len() < 2 {
                        std::thread::yield_now();
                    }
                    record(jobs)
                })
                .unwrap();
        });
        let mut batches = batches.into_inner().unwrap();
        batches[1].sort_unstable();
        assert_eq!(batches, [vec![0], vec![1, 2]]);
    }

    #[test]
    fn a_failed_commit_fails_every_job_in_it_and_not_the_next() {
        let group = GroupCommit::default();
        assert_eq!(
            group.submit(1, |_| Err("disk full".to_owned())),
            Err("disk full".to_owned())
        );
        assert_eq!(group.submit(2, |_| Ok(())), Ok(()));
    }

    #[test]
    fn a_commit_that_panics_fails_its_jobs_and_later_ones_still_commit() {
        let group = GroupCommit::default();
        let r = group.submit(1, |_| -> Result<(), String> { panic!("bug") });
        assert_eq!(r, Err("the commit panicked".to_owned()));
        let only_two = |jobs: Vec<u32>| {
            if jobs == [2] {
                Ok(())
            } else {
                Err("lost".to_owned())
            }
        };
        assert_eq!(group.submit(2, only_two), Ok(()));
    }
}
