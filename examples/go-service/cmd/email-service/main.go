// Command email-service is the seed's pooled messaging service: Kafka -> worker pool
// -> SMTP, configured by environment variables and flags (a flag beats its variable).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"poolbench-example/email-service/messaging"
	"poolbench-example/email-service/workerpool"
)

func envString(key, fallback string) string {
	if value, ok := os.LookupEnv(key); ok && value != "" {
		return value
	}
	return fallback
}

func envInt(key string, fallback int) int {
	value := envString(key, "")
	if value == "" {
		return fallback
	}
	n, err := strconv.Atoi(value)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: expected an integer, got %q\n", key, value)
		os.Exit(2)
	}
	return n
}

func main() {
	workers := flag.Int("workers", envInt("EMAIL_WORKER_COUNT", 10), "number of concurrent email workers")
	buffer := flag.Int("buffer", envInt("EMAIL_WORKER_BUFFER", 100), "job queue buffer size")
	brokers := flag.String("kafka-brokers", envString("KAFKA_BROKERS", "localhost:9093"), "Kafka brokers, comma-separated")
	topic := flag.String("kafka-topic", envString("KAFKA_TOPIC", "email-queue"), "Kafka topic")
	smtpHost := flag.String("smtp-host", envString("SMTP_HOST", "smtp.mailtrap.io"), "SMTP host")
	flag.Parse()
	if *workers < 1 || *buffer < 0 {
		fmt.Fprintf(os.Stderr, "-workers must be at least 1 and -buffer at least 0, got %d and %d\n", *workers, *buffer)
		os.Exit(2)
	}
	groupID := envString("KAFKA_GROUP_ID", "messaging-service-group")
	smtpConfig := messaging.SMTPConfig{
		Host:     *smtpHost,
		Port:     envInt("SMTP_PORT", 2525),
		User:     envString("SMTP_USER", ""),
		Password: envString("SMTP_PASSWORD", ""),
		Timeout:  10 * time.Second,
	}

	logger := log.New(os.Stdout, "[messaging-service] ", log.LstdFlags|log.Lmicroseconds)
	logger.Printf("Worker pool configuration: workers=%d buffer=%d", *workers, *buffer)

	pool := workerpool.New(*workers, *buffer, logger)
	pool.Start()
	resultsDone := make(chan struct{})
	go func() {
		defer close(resultsDone)
		for result := range pool.Results() {
			if result.Success {
				logger.Printf("Job completed successfully: %s (%s)", result.JobID, result.Duration.Round(time.Millisecond))
			} else {
				logger.Printf("Job failed: %s: %v", result.JobID, result.Error)
			}
		}
	}()

	factory := func(value []byte, headers map[string]string) (workerpool.Job, error) {
		event, err := messaging.ParseEvent(value)
		if err != nil {
			return nil, err
		}
		trace := messaging.Trace{ID: headers[messaging.HeaderID], IntendedNs: headers[messaging.HeaderIntendedNs]}
		return &EmailJob{event: event, trace: trace, smtp: smtpConfig}, nil
	}
	consumer := messaging.NewPooledConsumer(strings.Split(*brokers, ","), *topic, groupID, factory, pool, logger)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	err := consumer.Start(ctx)
	if err != nil {
		logger.Printf("Kafka consumer failed: %v", err)
	}
	logger.Printf("Shutting down messaging service")
	if cerr := consumer.Close(); cerr != nil {
		logger.Printf("Kafka consumer close: %v", cerr)
	}
	finished := pool.Stop()
	<-resultsDone
	if err != nil {
		os.Exit(2)
	}
	if !finished {
		os.Exit(1)
	}
}
