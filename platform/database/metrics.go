package database

import "github.com/prometheus/client_golang/prometheus"

// NewCollector returns Prometheus gauges of db's connection pool.
func NewCollector(db *DB) prometheus.Collector { return collector{db} }

type collector struct{ db *DB }

var (
	descTotal   = prometheus.NewDesc("db_pool_connections", "Open connections in the pool.", nil, nil)
	descIdle    = prometheus.NewDesc("db_pool_idle_connections", "Idle connections in the pool.", nil, nil)
	descInUse   = prometheus.NewDesc("db_pool_in_use_connections", "Connections in use.", nil, nil)
	descMax     = prometheus.NewDesc("db_pool_max_connections", "The most connections the pool opens.", nil, nil)
	descWaits   = prometheus.NewDesc("db_pool_acquire_waits_total", "Acquisitions that had to wait for a connection.", nil, nil)
	descWaitDur = prometheus.NewDesc("db_pool_acquire_wait_seconds_total", "Time spent waiting for connections.", nil, nil)
)

func (collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descTotal, descIdle, descInUse, descMax, descWaits, descWaitDur} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	counter := func(d *prometheus.Desc, v float64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
	}
	if p := c.db.Pool; p != nil {
		s := p.Stat()
		gauge(descTotal, float64(s.TotalConns()))
		gauge(descIdle, float64(s.IdleConns()))
		gauge(descInUse, float64(s.AcquiredConns()))
		gauge(descMax, float64(s.MaxConns()))
		counter(descWaits, float64(s.EmptyAcquireCount()))
		counter(descWaitDur, s.AcquireDuration().Seconds())
		return
	}
	s := c.db.SQL.Stats()
	gauge(descTotal, float64(s.OpenConnections))
	gauge(descIdle, float64(s.Idle))
	gauge(descInUse, float64(s.InUse))
	gauge(descMax, float64(s.MaxOpenConnections))
	counter(descWaits, float64(s.WaitCount))
	counter(descWaitDur, s.WaitDuration.Seconds())
}
