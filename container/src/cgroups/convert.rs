//! Kubernetes units to cgroup values, as the kubelet converts them
//! (`pkg/kubelet/cm/helpers_linux.go`), so limits behave the same as under
//! a stock node.

/// The CFS period both backends use.
pub(crate) const CFS_PERIOD_US: u64 = 100_000;
/// The smallest quota the kernel accepts (1 ms).
const MIN_QUOTA_US: u64 = 1_000;
const MIN_SHARES: u64 = 2;
const MAX_SHARES: u64 = 262_144;

/// `limits.cpu` -> CFS quota per [`CFS_PERIOD_US`]; None = unlimited.
/// Like the kubelet, a zero limit means none.
pub(crate) fn cfs_quota_us(limit_milli: Option<u64>) -> Option<u64> {
    match limit_milli {
        None | Some(0) => None,
        Some(m) => Some((m.saturating_mul(CFS_PERIOD_US) / 1000).max(MIN_QUOTA_US)),
    }
}

/// `requests.cpu` -> v1 `cpu.shares`; None leaves the kernel default.
/// A zero request gets the minimum (the kubelet's best-effort shares).
pub(crate) fn cpu_shares(request_milli: Option<u64>) -> Option<u64> {
    request_milli.map(|m| (m.saturating_mul(1024) / 1000).clamp(MIN_SHARES, MAX_SHARES))
}

/// v1 shares -> v2 `cpu.weight` (1..=10000) with the current OCI runtimes'
/// conversion (runc 1.3, crun 1.23): a quadratic in log2(shares) through
/// (2, 1), (1024, 100) and (262144, 10000), so the default share maps onto
/// the default weight. The older linear formula gave 1024 -> 39, which
/// starved default pods against everything outside Kubernetes.
pub(crate) fn cpu_weight(shares: u64) -> u64 {
    let shares = shares.clamp(MIN_SHARES, MAX_SHARES);
    if shares == MIN_SHARES {
        return 1;
    }
    if shares == MAX_SHARES {
        return 10_000;
    }
    let l = (shares as f64).log2();
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    (10f64.powf(exponent).ceil() as u64).clamp(1, 10_000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quota_is_millicores_times_100_with_the_kernel_minimum() {
        assert_eq!(cfs_quota_us(Some(200)), Some(20_000));
        assert_eq!(cfs_quota_us(Some(1500)), Some(150_000));
        assert_eq!(cfs_quota_us(Some(5)), Some(1_000));
        assert_eq!(cfs_quota_us(Some(0)), None);
        assert_eq!(cfs_quota_us(None), None);
    }

    #[test]
    fn shares_follow_the_kubelet() {
        assert_eq!(cpu_shares(Some(1000)), Some(1024));
        assert_eq!(cpu_shares(Some(250)), Some(256));
        assert_eq!(cpu_shares(Some(1)), Some(2));
        assert_eq!(cpu_shares(Some(0)), Some(2));
        assert_eq!(cpu_shares(Some(1_000_000)), Some(262_144));
        assert_eq!(cpu_shares(None), None);
    }

    #[test]
    fn weight_maps_the_share_range_onto_1_to_10000() {
        assert_eq!(cpu_weight(2), 1);
        assert_eq!(cpu_weight(262_144), 10_000);
        assert_eq!(cpu_weight(1024), 100);
        assert_eq!(cpu_weight(256), 35);
    }
}
