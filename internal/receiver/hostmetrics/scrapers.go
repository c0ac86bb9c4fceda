package hostmetrics

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"
	"github.com/shirou/gopsutil/v4/net"
	"go.opentelemetry.io/collector/pdata/pcommon"
	"go.opentelemetry.io/collector/pdata/pmetric"
)

// The metric names, units and attributes follow the OpenTelemetry semantic conventions for
// system metrics as the Collector's hostmetrics receiver emits them (attributes "state", "cpu",
// "device", "direction", "mountpoint", "type", "mode").

// scraper appends one family of metrics to ms. It may append some metrics and still return an
// error: what it could read is reported.
type scraper interface {
	scrape(ctx context.Context, ts stamps, ms pmetric.MetricSlice) error
}

// stamps are the timestamps of one scrape: start is the host's boot time, the start of every
// cumulative counter read from the kernel.
type stamps struct{ start, now pcommon.Timestamp }

// gauge drops the start time: a gauge point is a sample, not an accumulation.
func (s stamps) gauge() stamps { return stamps{now: s.now} }

// scraperFunc adapts a stateless function to scraper.
type scraperFunc func(ctx context.Context, ts stamps, ms pmetric.MetricSlice) error

func (f scraperFunc) scrape(ctx context.Context, ts stamps, ms pmetric.MetricSlice) error {
	return f(ctx, ts, ms)
}

// newScraper builds the scraper called name.
func newScraper(name string) scraper {
	switch name {
	case ScraperCPU:
		return &cpuScraper{}
	case ScraperMemory:
		return scraperFunc(scrapeMemory)
	case ScraperDisk:
		return scraperFunc(scrapeDisk)
	case ScraperNetwork:
		return scraperFunc(scrapeNetwork)
	case ScraperFilesystem:
		return scraperFunc(scrapeFilesystem)
	case ScraperLoad:
		return scraperFunc(scrapeLoad)
	}
	panic("hostmetrics: unknown scraper " + name) // Validate rejects unknown names first
}

// sum appends a cumulative sum metric and returns its points.
func sum(ms pmetric.MetricSlice, name, desc, unit string, monotonic bool) pmetric.NumberDataPointSlice {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetDescription(desc)
	m.SetUnit(unit)
	s := m.SetEmptySum()
	s.SetIsMonotonic(monotonic)
	s.SetAggregationTemporality(pmetric.AggregationTemporalityCumulative)
	return s.DataPoints()
}

// gauge appends a gauge metric and returns its points.
func gauge(ms pmetric.MetricSlice, name, desc, unit string) pmetric.NumberDataPointSlice {
	m := ms.AppendEmpty()
	m.SetName(name)
	m.SetDescription(desc)
	m.SetUnit(unit)
	return m.SetEmptyGauge().DataPoints()
}

// point appends a data point with attributes given as key, value pairs.
func point(dps pmetric.NumberDataPointSlice, ts stamps, kv ...string) pmetric.NumberDataPoint {
	dp := dps.AppendEmpty()
	dp.SetStartTimestamp(ts.start)
	dp.SetTimestamp(ts.now)
	attrs := dp.Attributes()
	attrs.EnsureCapacity(len(kv) / 2)
	for i := 0; i+1 < len(kv); i += 2 {
		attrs.PutStr(kv[i], kv[i+1])
	}
	return dp
}

// cpuScraper keeps the previous reading to derive utilization over the last interval.
type cpuScraper struct {
	prev map[string]cpu.TimesStat // by cpu name; only the collector goroutine touches it
}

// modeTime is the time a CPU spent in one state.
type modeTime struct {
	state string
	secs  float64
}

func cpuStates(t cpu.TimesStat) [8]modeTime {
	return [8]modeTime{
		{"user", t.User}, {"system", t.System}, {"idle", t.Idle}, {"interrupt", t.Irq},
		{"nice", t.Nice}, {"softirq", t.Softirq}, {"steal", t.Steal}, {"wait", t.Iowait},
	}
}

func (c *cpuScraper) scrape(ctx context.Context, ts stamps, ms pmetric.MetricSlice) error {
	times, err := cpu.TimesWithContext(ctx, true)
	if err != nil {
		return fmt.Errorf("cpu times: %w", err)
	}
	timeDps := sum(ms, "system.cpu.time", "Seconds each logical CPU spent in each mode.", "s", true)
	var utilDps pmetric.NumberDataPointSlice
	if c.prev != nil {
		utilDps = gauge(ms, "system.cpu.utilization", "Fraction of the last interval each logical CPU spent in each mode.", "1")
	}
	next := make(map[string]cpu.TimesStat, len(times))
	for _, t := range times {
		next[t.CPU] = t
		for _, s := range cpuStates(t) {
			point(timeDps, ts, "cpu", t.CPU, "state", s.state).SetDoubleValue(s.secs)
		}
		p, ok := c.prev[t.CPU]
		if !ok {
			continue
		}
		elapsed := total(t) - total(p)
		if elapsed <= 0 {
			continue
		}
		prevStates := cpuStates(p)
		for i, s := range cpuStates(t) {
			point(utilDps, ts.gauge(), "cpu", t.CPU, "state", s.state).SetDoubleValue(clamp01((s.secs - prevStates[i].secs) / elapsed))
		}
	}
	c.prev = next
	return nil
}

// total is the time a CPU spent in the modes reported (guest time is already in user and nice).
func total(t cpu.TimesStat) float64 {
	return t.User + t.System + t.Idle + t.Irq + t.Nice + t.Softirq + t.Steal + t.Iowait
}

func clamp01(v float64) float64 { return max(0, min(1, v)) }

func scrapeMemory(ctx context.Context, ts stamps, ms pmetric.MetricSlice) error {
	vm, err := mem.VirtualMemoryWithContext(ctx)
	if err != nil {
		return fmt.Errorf("virtual memory: %w", err)
	}
	// The states partition the total: gopsutil's Cached already holds the reclaimable slab.
	cached := vm.Cached
	used := int64(vm.Total) - int64(vm.Free) - int64(vm.Buffers) - int64(cached)
	states := []struct {
		state string
		bytes int64
	}{
		{"used", max(used, 0)}, {"free", int64(vm.Free)}, {"buffered", int64(vm.Buffers)}, {"cached", int64(cached)},
	}
	usage := sum(ms, "system.memory.usage", "Bytes of memory in use, by state.", "By", false)
	util := gauge(ms, "system.memory.utilization", "Fraction of memory in each state.", "1")
	for _, s := range states {
		point(usage, ts, "state", s.state).SetIntValue(s.bytes)
		if vm.Total > 0 {
			point(util, ts.gauge(), "state", s.state).SetDoubleValue(float64(s.bytes) / float64(vm.Total))
		}
	}
	limit := sum(ms, "system.memory.limit", "Total bytes of memory available.", "By", false)
	point(limit, ts).SetIntValue(int64(vm.Total))
	return nil
}

func scrapeDisk(ctx context.Context, ts stamps, ms pmetric.MetricSlice) error {
	devs, err := disk.IOCountersWithContext(ctx)
	if err != nil {
		return fmt.Errorf("disk io counters: %w", err)
	}
	io := sum(ms, "system.disk.io", "Bytes read from and written to each disk.", "By", true)
	ops := sum(ms, "system.disk.operations", "Read and write operations of each disk.", "{operations}", true)
	opTime := sum(ms, "system.disk.operation_time", "Time spent in read and write operations.", "s", true)
	ioTime := sum(ms, "system.disk.io_time", "Time each disk had I/O in progress.", "s", true)
	for _, name := range slices.Sorted(maps.Keys(devs)) {
		d := devs[name]
		point(io, ts, "device", name, "direction", "read").SetIntValue(int64(d.ReadBytes))
		point(io, ts, "device", name, "direction", "write").SetIntValue(int64(d.WriteBytes))
		point(ops, ts, "device", name, "direction", "read").SetIntValue(int64(d.ReadCount))
		point(ops, ts, "device", name, "direction", "write").SetIntValue(int64(d.WriteCount))
		point(opTime, ts, "device", name, "direction", "read").SetDoubleValue(float64(d.ReadTime) / 1e3)
		point(opTime, ts, "device", name, "direction", "write").SetDoubleValue(float64(d.WriteTime) / 1e3)
		point(ioTime, ts, "device", name).SetDoubleValue(float64(d.IoTime) / 1e3)
	}
	return nil
}

func scrapeNetwork(ctx context.Context, ts stamps, ms pmetric.MetricSlice) error {
	nics, err := net.IOCountersWithContext(ctx, true)
	if err != nil {
		return fmt.Errorf("network io counters: %w", err)
	}
	io := sum(ms, "system.network.io", "Bytes received and transmitted by each interface.", "By", true)
	packets := sum(ms, "system.network.packets", "Packets received and transmitted.", "{packets}", true)
	errs := sum(ms, "system.network.errors", "Receive and transmit errors.", "{errors}", true)
	dropped := sum(ms, "system.network.dropped", "Packets dropped on receive and transmit.", "{packets}", true)
	for _, n := range nics {
		point(io, ts, "device", n.Name, "direction", "receive").SetIntValue(int64(n.BytesRecv))
		point(io, ts, "device", n.Name, "direction", "transmit").SetIntValue(int64(n.BytesSent))
		point(packets, ts, "device", n.Name, "direction", "receive").SetIntValue(int64(n.PacketsRecv))
		point(packets, ts, "device", n.Name, "direction", "transmit").SetIntValue(int64(n.PacketsSent))
		point(errs, ts, "device", n.Name, "direction", "receive").SetIntValue(int64(n.Errin))
		point(errs, ts, "device", n.Name, "direction", "transmit").SetIntValue(int64(n.Errout))
		point(dropped, ts, "device", n.Name, "direction", "receive").SetIntValue(int64(n.Dropin))
		point(dropped, ts, "device", n.Name, "direction", "transmit").SetIntValue(int64(n.Dropout))
	}
	return nil
}

func scrapeFilesystem(ctx context.Context, ts stamps, ms pmetric.MetricSlice) error {
	parts, err := disk.PartitionsWithContext(ctx, false) // physical devices only
	if err != nil && len(parts) == 0 {
		return fmt.Errorf("partitions: %w", err)
	}
	var errs []error
	if err != nil {
		errs = append(errs, fmt.Errorf("partitions: %w", err))
	}
	usage := sum(ms, "system.filesystem.usage", "Bytes used, free and reserved on each filesystem.", "By", false)
	util := gauge(ms, "system.filesystem.utilization", "Fraction of each filesystem in use.", "1")
	inodes := sum(ms, "system.filesystem.inodes.usage", "Inodes used and free on each filesystem.", "{inodes}", false)
	seen := map[string]bool{}
	for _, p := range parts {
		// The same filesystem can be mounted several times (bind mounts): report it once.
		key := p.Device + "\x00" + p.Mountpoint
		if seen[key] {
			continue
		}
		seen[key] = true
		u, err := disk.UsageWithContext(ctx, p.Mountpoint)
		if err != nil {
			errs = append(errs, fmt.Errorf("usage of %s: %w", p.Mountpoint, err))
			continue
		}
		mode := "rw"
		for _, o := range p.Opts {
			if o == "ro" {
				mode = "ro"
			}
		}
		fs := []string{"device", p.Device, "mode", mode, "mountpoint", p.Mountpoint, "type", p.Fstype}
		kv := func(state string) []string { return append(slices.Clip(fs), "state", state) }
		reserved := int64(u.Total) - int64(u.Used) - int64(u.Free)
		point(usage, ts, kv("used")...).SetIntValue(int64(u.Used))
		point(usage, ts, kv("free")...).SetIntValue(int64(u.Free))
		point(usage, ts, kv("reserved")...).SetIntValue(max(reserved, 0))
		if u.Total > 0 {
			point(util, ts.gauge(), fs...).SetDoubleValue(float64(u.Used) / float64(u.Total))
		}
		point(inodes, ts, kv("used")...).SetIntValue(int64(u.InodesUsed))
		point(inodes, ts, kv("free")...).SetIntValue(int64(u.InodesFree))
	}
	return errors.Join(errs...)
}

func scrapeLoad(ctx context.Context, ts stamps, ms pmetric.MetricSlice) error {
	avg, err := load.AvgWithContext(ctx)
	if err != nil {
		return fmt.Errorf("load average: %w", err)
	}
	for _, l := range []struct {
		name string
		v    float64
	}{{"system.cpu.load_average.1m", avg.Load1}, {"system.cpu.load_average.5m", avg.Load5}, {"system.cpu.load_average.15m", avg.Load15}} {
		point(gauge(ms, l.name, "Average number of runnable and uninterruptible threads.", "{thread}"), ts.gauge()).SetDoubleValue(l.v)
	}
	return nil
}
