package mail

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"todo/ent"
	"todo/ent/mailoutbox"
)

// metrics counts the worker's outcomes and, at each scrape, the mail
// waiting in the outbox.
type metrics struct {
	db       *ent.Client
	outcomes *prometheus.CounterVec
	pending  *prometheus.Desc
}

func newMetrics(db *ent.Client) *metrics {
	m := &metrics{
		db: db,
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "todo_mail_attempts_total",
			Help: "Attempts to send a mail by this process, by outcome: sent; retry (failed, to be tried again); rejected (5xx, given up); expired (still failing after MAIL_GIVE_UP_AFTER, given up).",
		}, []string{"outcome"}),
		pending: prometheus.NewDesc("todo_mail_pending",
			"Mails in the outbox neither sent nor given up (all instances).", nil, nil),
	}
	for _, o := range []string{"sent", "retry", "rejected", "expired"} {
		m.outcomes.WithLabelValues(o)
	}
	return m
}

func (m *metrics) outcome(o string) { m.outcomes.WithLabelValues(o).Inc() }

// Describe implements prometheus.Collector.
func (m *metrics) Describe(ch chan<- *prometheus.Desc) {
	m.outcomes.Describe(ch)
	ch <- m.pending
}

// Collect implements prometheus.Collector. The pending count is one
// indexed query; a database that does not answer within a second leaves it
// out of the scrape.
func (m *metrics) Collect(ch chan<- prometheus.Metric) {
	m.outcomes.Collect(ch)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	n, err := m.db.MailOutbox.Query().Where(mailoutbox.SentAtIsNil(), mailoutbox.FailedAtIsNil()).Count(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(m.pending, err)
		return
	}
	ch <- prometheus.MustNewConstMetric(m.pending, prometheus.GaugeValue, float64(n))
}

// Collector returns the worker's Prometheus metrics:
// todo_mail_attempts_total{outcome} and todo_mail_pending.
func (w *Worker) Collector() prometheus.Collector { return w.metrics }
