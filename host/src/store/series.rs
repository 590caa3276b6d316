//! In-memory time series: one ring buffer of samples per label set, pruned by age.
//!
//! Pure data structure: no locks, no I/O, no clock. The owner decides when to prune.

use super::labels::Labels;
use std::collections::{HashMap, VecDeque};

/// One sample: a timestamp in milliseconds since the Unix epoch and a value.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: i64,
    /// The value (a NaN with [`STALE_NAN`]'s bits marks the series stale, as in Prometheus).
    pub v: f64,
}

/// The bit pattern Prometheus uses for staleness markers.
pub const STALE_NAN: u64 = 0x7ff0_0000_0000_0002;

/// Whether `v` is a staleness marker.
pub fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN
}

/// Index of a series in a [`SeriesSet`].
pub type SeriesId = usize;

/// One series.
#[derive(Debug, Clone)]
pub struct Series {
    /// Its labels, `__name__` included.
    pub labels: Labels,
    /// Samples in time order.
    pub samples: VecDeque<Sample>,
}

impl Series {
    /// Samples with `start <= t <= end`, as two slices (the ring buffer may wrap).
    pub fn range(&self, start: i64, end: i64) -> impl Iterator<Item = &Sample> {
        let from = self.samples.partition_point(|s| s.t < start);
        let to = self.samples.partition_point(|s| s.t <= end);
        self.samples.range(from..to.max(from))
    }

    /// The newest sample.
    pub fn latest(&self) -> Option<&Sample> {
        self.samples.back()
    }
}

/// Every series, addressable by label set and by metric name.
#[derive(Debug, Default, Clone)]
pub struct SeriesSet {
    series: Vec<Option<Series>>,
    by_labels: HashMap<Labels, SeriesId>,
    by_name: HashMap<String, Vec<SeriesId>>,
    /// Postings: for every label pair other than the name, the series carrying it, so a
    /// selector like `probe_success{probe="checkout"}` reads one series, not all of them.
    by_label: HashMap<(String, String), Vec<SeriesId>>,
    free: Vec<SeriesId>,
}

/// Why a sample was not appended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendError {
    /// Older than the newest sample of its series.
    OutOfOrder,
}

impl SeriesSet {
    /// An empty set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of live series.
    pub fn len(&self) -> usize {
        self.by_labels.len()
    }

    /// Whether there are no series.
    pub fn is_empty(&self) -> bool {
        self.by_labels.is_empty()
    }

    /// Append a sample. A sample at the same timestamp as the newest replaces it; an older
    /// one is refused, as Prometheus refuses out-of-order samples.
    pub fn append(&mut self, labels: &Labels, sample: Sample) -> Result<SeriesId, AppendError> {
        let id = match self.by_labels.get(labels) {
            Some(id) => *id,
            None => self.create(labels.clone()),
        };
        let series = self.series[id].as_mut().expect("indexed series exists");
        match series.samples.back_mut() {
            Some(last) if last.t > sample.t => return Err(AppendError::OutOfOrder),
            Some(last) if last.t == sample.t => *last = sample,
            _ => series.samples.push_back(sample),
        }
        Ok(id)
    }

    fn create(&mut self, labels: Labels) -> SeriesId {
        let series = Series {
            labels: labels.clone(),
            samples: VecDeque::new(),
        };
        let id = match self.free.pop() {
            Some(id) => {
                self.series[id] = Some(series);
                id
            }
            None => {
                self.series.push(Some(series));
                self.series.len() - 1
            }
        };
        self.by_name
            .entry(labels.name().to_string())
            .or_default()
            .push(id);
        for (k, v) in labels.iter().filter(|(k, _)| *k != super::labels::NAME) {
            self.by_label
                .entry((k.to_string(), v.to_string()))
                .or_default()
                .push(id);
        }
        self.by_labels.insert(labels, id);
        id
    }

    /// The series with exactly these labels.
    pub fn get(&self, labels: &Labels) -> Option<&Series> {
        self.by_labels
            .get(labels)
            .and_then(|id| self.series[*id].as_ref())
    }

    /// All series named `name`.
    pub fn named<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a Series> + 'a {
        self.by_name
            .get(name)
            .into_iter()
            .flatten()
            .filter_map(|id| self.series[*id].as_ref())
    }

    /// All series carrying the label `name="value"` (not for `__name__`: see [`named`]).
    ///
    /// [`named`]: SeriesSet::named
    pub fn with_label<'a>(
        &'a self,
        name: &str,
        value: &str,
    ) -> impl Iterator<Item = &'a Series> + 'a {
        self.by_label
            .get(&(name.to_string(), value.to_string()))
            .into_iter()
            .flatten()
            .filter_map(|id| self.series[*id].as_ref())
    }

    /// How many series carry `name="value"` (`__name__` included), to pick the shortest
    /// postings list.
    pub fn count_with(&self, name: &str, value: &str) -> usize {
        if name == super::labels::NAME {
            self.by_name.get(value).map_or(0, Vec::len)
        } else {
            self.by_label
                .get(&(name.to_string(), value.to_string()))
                .map_or(0, Vec::len)
        }
    }

    /// Every series.
    pub fn iter(&self) -> impl Iterator<Item = &Series> {
        self.series.iter().flatten()
    }

    /// Drop samples older than `min_t`, and series left empty.
    pub fn prune(&mut self, min_t: i64) {
        self.prune_by(|_| min_t);
    }

    /// Drop samples older than `min_t(series labels)`, and series left empty.
    pub fn prune_by(&mut self, min_t: impl Fn(&Labels) -> i64) {
        let mut emptied = Vec::new();
        for (id, slot) in self.series.iter_mut().enumerate() {
            if let Some(series) = slot {
                let min_t = min_t(&series.labels);
                while series.samples.front().is_some_and(|s| s.t < min_t) {
                    series.samples.pop_front();
                }
                if series.samples.is_empty() {
                    emptied.push(id);
                }
            }
        }
        for id in emptied {
            self.remove(id);
        }
    }

    fn remove(&mut self, id: SeriesId) {
        if let Some(series) = self.series[id].take() {
            self.by_labels.remove(&series.labels);
            if let Some(ids) = self.by_name.get_mut(series.labels.name()) {
                ids.retain(|i| *i != id);
                if ids.is_empty() {
                    self.by_name.remove(series.labels.name());
                }
            }
            for (k, v) in series
                .labels
                .iter()
                .filter(|(k, _)| *k != super::labels::NAME)
            {
                let key = (k.to_string(), v.to_string());
                if let Some(ids) = self.by_label.get_mut(&key) {
                    ids.retain(|i| *i != id);
                    if ids.is_empty() {
                        self.by_label.remove(&key);
                    }
                }
            }
            self.free.push(id);
        }
    }

    /// Total samples held (for the store's own metrics).
    pub fn sample_count(&self) -> usize {
        self.iter().map(|s| s.samples.len()).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(name: &str, probe: &str) -> Labels {
        Labels::from_pairs(name, [("probe", probe)])
    }

    fn s(t: i64, v: f64) -> Sample {
        Sample { t, v }
    }

    #[test]
    fn postings_follow_series_in_and_out() {
        let mut set = SeriesSet::new();
        set.append(&l("up", "a"), s(1, 1.0)).unwrap();
        set.append(&l("up", "b"), s(1, 1.0)).unwrap();
        set.append(&l("latency", "a"), s(5, 0.1)).unwrap();
        let names = |set: &SeriesSet, k: &str, v: &str| -> Vec<String> {
            let mut n: Vec<String> = set.with_label(k, v).map(|s| s.labels.to_string()).collect();
            n.sort();
            n
        };
        assert_eq!(
            names(&set, "probe", "a"),
            [r#"latency{probe="a"}"#, r#"up{probe="a"}"#]
        );
        assert_eq!(set.count_with("probe", "a"), 2);
        assert_eq!(set.count_with("__name__", "up"), 2);
        assert_eq!(set.count_with("probe", "zzz"), 0);
        // `up` series end at t=1: pruning at 2 drops them and their postings.
        set.prune(2);
        assert_eq!(names(&set, "probe", "a"), [r#"latency{probe="a"}"#]);
        assert_eq!(set.count_with("probe", "b"), 0);
        // A reused slot is indexed under its new labels only.
        set.append(&l("up", "c"), s(9, 1.0)).unwrap();
        assert_eq!(names(&set, "probe", "c"), [r#"up{probe="c"}"#]);
        assert_eq!(set.count_with("probe", "a"), 1);
    }

    #[test]
    fn appends_in_order_and_replaces_same_timestamp() {
        let mut set = SeriesSet::new();
        let a = l("probe_success", "a");
        set.append(&a, s(1000, 1.0)).unwrap();
        set.append(&a, s(2000, 0.0)).unwrap();
        set.append(&a, s(2000, 1.0)).unwrap();
        assert_eq!(set.append(&a, s(1500, 1.0)), Err(AppendError::OutOfOrder));
        let series = set.get(&a).unwrap();
        assert_eq!(series.samples, [s(1000, 1.0), s(2000, 1.0)]);
        assert_eq!(series.latest(), Some(&s(2000, 1.0)));
    }

    #[test]
    fn range_is_inclusive_on_both_ends() {
        let mut set = SeriesSet::new();
        let a = l("x", "a");
        for t in (0..10).map(|i| i * 1000) {
            set.append(&a, s(t, t as f64)).unwrap();
        }
        let got: Vec<i64> = set
            .get(&a)
            .unwrap()
            .range(2000, 4000)
            .map(|s| s.t)
            .collect();
        assert_eq!(got, [2000, 3000, 4000]);
        assert_eq!(set.get(&a).unwrap().range(20_000, 30_000).count(), 0);
        assert_eq!(set.get(&a).unwrap().range(5000, 1000).count(), 0);
    }

    #[test]
    fn prune_drops_old_samples_and_empty_series_and_reuses_slots() {
        let mut set = SeriesSet::new();
        let a = l("x", "a");
        let b = l("x", "b");
        set.append(&a, s(1000, 1.0)).unwrap();
        set.append(&a, s(5000, 1.0)).unwrap();
        set.append(&b, s(1000, 1.0)).unwrap();
        set.prune(2000);
        assert_eq!(set.len(), 1);
        assert_eq!(set.get(&a).unwrap().samples.len(), 1);
        assert!(set.get(&b).is_none());
        assert_eq!(set.named("x").count(), 1);
        let c = l("y", "c");
        let id = set.append(&c, s(6000, 1.0)).unwrap();
        assert_eq!(id, 1, "freed slot reused");
        assert_eq!(set.named("y").count(), 1);
    }

    #[test]
    fn stale_marker_is_recognised() {
        assert!(is_stale(f64::from_bits(STALE_NAN)));
        assert!(!is_stale(f64::NAN));
        assert!(!is_stale(1.0));
    }
}
