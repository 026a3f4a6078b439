package main

import (
	"context"
	"fmt"

	"poolbench-example/email-service/messaging"
)

// EmailJob sends one email event.
type EmailJob struct {
	event *messaging.EmailEvent
	trace messaging.Trace
	smtp  messaging.SMTPConfig
}

func (j *EmailJob) ID() string { return j.event.Message.ID }

func (j *EmailJob) Execute(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	started := messaging.MonotonicNs()
	msg, err := messaging.BuildMessage(j.event, j.trace, started)
	if err != nil {
		return fmt.Errorf("build email: %w", err)
	}
	return messaging.Send(ctx, j.smtp, j.event.Message.From, j.event.Message.To, msg)
}
