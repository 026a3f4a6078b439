// Package messaging holds the wire format and the pooled Kafka consumer.
package messaging

import (
	"encoding/json"
	"errors"
	"fmt"
)

// Kafka headers the poolbench load generator stamps on each event, and the email
// headers they are copied into so the sink can measure this service (poolbench/wire.py).
const (
	HeaderID              = "poolbench-id"
	HeaderIntendedNs      = "poolbench-intended-ns"
	EmailHeaderID         = "X-Poolbench-Id"
	EmailHeaderIntendedNs = "X-Poolbench-Intended-Ns"
	EmailHeaderStartedNs  = "X-Poolbench-Started-Ns"
)

// EmailMessage is the "message" object of an EmailEvent.
type EmailMessage struct {
	ID         string         `json:"id"`
	From       string         `json:"from"`
	To         string         `json:"to"`
	Subject    string         `json:"subject"`
	Template   string         `json:"template"`
	Data       map[string]any `json:"data"`
	Priority   string         `json:"priority"`
	Timestamp  string         `json:"timestamp"`
	RetryCount int            `json:"retry_count"`
	MaxRetries int            `json:"max_retries"`
	Status     string         `json:"status"`
	ErrorMsg   string         `json:"error_msg"`
}

// EmailEvent is one Kafka message value.
type EmailEvent struct {
	Type    string       `json:"type"`
	Message EmailMessage `json:"message"`
}

// ParseEvent decodes one message value and checks the fields sending needs.
func ParseEvent(value []byte) (*EmailEvent, error) {
	var event EmailEvent
	if err := json.Unmarshal(value, &event); err != nil {
		return nil, fmt.Errorf("malformed JSON: %w", err)
	}
	switch {
	case event.Message.ID == "":
		return nil, errors.New("message.id is empty")
	case event.Message.From == "":
		return nil, errors.New("message.from is empty")
	case event.Message.To == "":
		return nil, errors.New("message.to is empty")
	}
	return &event, nil
}
