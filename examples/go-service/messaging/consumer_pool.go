package messaging

import (
	"context"
	"errors"
	"fmt"
	"log"
	"strings"
	"time"

	"github.com/Shopify/sarama"

	"poolbench-example/email-service/workerpool"
)

// JobFactory turns one Kafka message (value and headers) into a pool job.
type JobFactory func(value []byte, headers map[string]string) (workerpool.Job, error)

// PooledConsumer reads a topic in a consumer group and hands each message to the pool.
//
// Like the seed's, it marks a message's offset for commit as soon as the job is in the
// pool's queue, not once the email is sent: a crash loses what was queued or in flight.
type PooledConsumer struct {
	brokers []string
	topic   string
	groupID string
	factory JobFactory
	pool    *workerpool.Pool
	logger  *log.Logger
	config  *sarama.Config
	group   sarama.ConsumerGroup
}

// NewPooledConsumer configures the consumer; Start connects.
func NewPooledConsumer(brokers []string, topic, groupID string, factory JobFactory, pool *workerpool.Pool, logger *log.Logger) *PooledConsumer {
	cfg := sarama.NewConfig()
	cfg.ClientID = "email-service"
	// 1.0 is the oldest protocol with record headers and consumer groups that both
	// the embedded broker and real clusters speak.
	cfg.Version = sarama.V1_0_0_0
	cfg.Consumer.Return.Errors = true
	// A new group starts at the beginning of the topic.
	cfg.Consumer.Offsets.Initial = sarama.OffsetOldest
	// The seed commits each message right after submitting it; sarama commits marked
	// offsets in the background, so a short interval keeps that behaviour.
	cfg.Consumer.Offsets.CommitInterval = 100 * time.Millisecond
	// A short session lets a restarted instance take its partitions back in seconds.
	cfg.Consumer.Group.Session.Timeout = 6 * time.Second
	cfg.Consumer.Group.Heartbeat.Interval = time.Second
	return &PooledConsumer{
		brokers: brokers, topic: topic, groupID: groupID,
		factory: factory, pool: pool, logger: logger, config: cfg,
	}
}

// Start consumes until ctx is cancelled; it returns an error only if it cannot connect.
func (c *PooledConsumer) Start(ctx context.Context) error {
	group, err := sarama.NewConsumerGroup(c.brokers, c.groupID, c.config)
	if err != nil {
		return fmt.Errorf("kafka consumer group: %w", err)
	}
	c.group = group
	go func() {
		for err := range group.Errors() {
			c.logger.Printf("Kafka consumer error: %v", err)
		}
	}()
	c.logger.Printf("Starting pooled Kafka consumer: brokers=%s topic=%s group=%s",
		strings.Join(c.brokers, ","), c.topic, c.groupID)
	handler := &groupHandler{consumer: c}
	for ctx.Err() == nil {
		// Consume returns at every rebalance; loop to rejoin.
		if err := group.Consume(ctx, []string{c.topic}, handler); err != nil {
			if errors.Is(err, sarama.ErrClosedConsumerGroup) {
				break
			}
			c.logger.Printf("Kafka consumer error: %v", err)
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
	}
	return nil
}

// Close leaves the group, committing the offsets marked so far.
func (c *PooledConsumer) Close() error {
	if c.group == nil {
		return nil
	}
	return c.group.Close()
}

type groupHandler struct {
	consumer *PooledConsumer
}

func (h *groupHandler) Setup(session sarama.ConsumerGroupSession) error {
	// poolbench's runner and tests wait for "consumer ready" before they start the load.
	h.consumer.logger.Printf("Kafka consumer ready: partitions %v", session.Claims())
	return nil
}

func (h *groupHandler) Cleanup(sarama.ConsumerGroupSession) error { return nil }

func (h *groupHandler) ConsumeClaim(session sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	c := h.consumer
	for msg := range claim.Messages() {
		headers := make(map[string]string, len(msg.Headers))
		for _, header := range msg.Headers {
			if header != nil {
				headers[string(header.Key)] = string(header.Value)
			}
		}
		job, err := c.factory(msg.Value, headers)
		if err != nil {
			// The seed logs a message it cannot read and moves past it.
			c.logger.Printf("Failed to process message at %s/%d/%d: %v", msg.Topic, msg.Partition, msg.Offset, err)
			session.MarkMessage(msg, "")
			continue
		}
		if err := c.pool.Submit(session.Context(), job); err != nil {
			// Rebalance or shutdown: the offset stays unmarked, so the message is redelivered.
			return nil
		}
		session.MarkMessage(msg, "")
	}
	return nil
}
