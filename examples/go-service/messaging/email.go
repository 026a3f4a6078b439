package messaging

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	htmltemplate "html/template"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"sort"
	"strings"
	texttemplate "text/template"
	"time"
)

// SMTPConfig is where and how emails are sent.
type SMTPConfig struct {
	Host     string
	Port     int
	User     string
	Password string
	Timeout  time.Duration
}

// Trace is poolbench's measurement headers, copied from Kafka into the email.
type Trace struct {
	ID         string
	IntendedNs string
}

var textBody = texttemplate.Must(texttemplate.New("text").Parse(
	`{{.Subject}}

Hello {{.Name}},
{{range .Fields}}
{{.Key}}: {{.Value}}{{end}}

Message id: {{.ID}}
`))

var htmlBody = htmltemplate.Must(htmltemplate.New("html").Parse(
	`<!DOCTYPE html>
<html><body>
<h1>{{.Subject}}</h1>
<p>Hello {{.Name}},</p>
<table>{{range .Fields}}<tr><td>{{.Key}}</td><td>{{.Value}}</td></tr>{{end}}</table>
<p style="color:#888">Message id: {{.ID}}</p>
</body></html>
`))

type field struct{ Key, Value string }

type view struct {
	Subject, Name, ID string
	Fields            []field
}

// cleanHeader keeps a header value on one line, so event fields cannot add headers.
func cleanHeader(value string) string {
	return strings.NewReplacer("\r", " ", "\n", " ").Replace(value)
}

// BuildMessage renders the event as a multipart/alternative email (plain text and HTML).
// startedNs is when the worker took the job (CLOCK_MONOTONIC ns, MonotonicNs), so the
// sink can split waiting from sending.
func BuildMessage(event *EmailEvent, trace Trace, startedNs int64) ([]byte, error) {
	m := event.Message
	subject := m.Subject
	if subject == "" {
		subject = strings.ReplaceAll(event.Type, "_", " ")
	}
	v := view{Subject: subject, Name: "there", ID: m.ID}
	keys := make([]string, 0, len(m.Data))
	for k := range m.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		value := fmt.Sprint(m.Data[k])
		if k == "name" {
			v.Name = value
			continue
		}
		v.Fields = append(v.Fields, field{k, value})
	}

	var body bytes.Buffer
	parts := multipart.NewWriter(&body)
	for _, part := range []struct {
		contentType string
		render      func(*bytes.Buffer) error
	}{
		{"text/plain; charset=utf-8", func(b *bytes.Buffer) error { return textBody.Execute(b, v) }},
		{"text/html; charset=utf-8", func(b *bytes.Buffer) error { return htmlBody.Execute(b, v) }},
	} {
		var rendered bytes.Buffer
		if err := part.render(&rendered); err != nil {
			return nil, fmt.Errorf("render %s: %w", part.contentType, err)
		}
		w, err := parts.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.contentType},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write(rendered.Bytes()); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := parts.Close(); err != nil {
		return nil, err
	}

	var msg bytes.Buffer
	header := func(key, value string) { fmt.Fprintf(&msg, "%s: %s\r\n", key, cleanHeader(value)) }
	header("From", m.From)
	header("To", m.To)
	header("Subject", mime.QEncoding.Encode("utf-8", subject))
	header("Date", time.Now().Format(time.RFC1123Z))
	header("Message-Id", fmt.Sprintf("<%s@email-service>", randomHex()))
	header("MIME-Version", "1.0")
	if trace.ID != "" {
		header(EmailHeaderID, trace.ID)
	}
	if trace.IntendedNs != "" {
		header(EmailHeaderIntendedNs, trace.IntendedNs)
	}
	header(EmailHeaderStartedNs, fmt.Sprint(startedNs))
	header("Content-Type", "multipart/alternative; boundary="+parts.Boundary())
	msg.WriteString("\r\n")
	msg.Write(body.Bytes())
	return msg.Bytes(), nil
}

func randomHex() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// Send delivers one email over a new SMTP connection, as the seed's service does;
// it uses STARTTLS when the server offers it and AUTH PLAIN when a user is set.
func Send(ctx context.Context, cfg SMTPConfig, from, to string, msg []byte) error {
	addr := net.JoinHostPort(cfg.Host, fmt.Sprint(cfg.Port))
	dialer := net.Dialer{Timeout: cfg.Timeout}
	conn, err := dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("connect %s: %w", addr, err)
	}
	// net/smtp has no per-command timeout: one deadline bounds the whole transaction.
	_ = conn.SetDeadline(time.Now().Add(cfg.Timeout))
	client, err := smtp.NewClient(conn, cfg.Host)
	if err != nil {
		conn.Close()
		return fmt.Errorf("greeting: %w", err)
	}
	defer client.Close()
	if ok, _ := client.Extension("STARTTLS"); ok {
		if err := client.StartTLS(tlsConfig(cfg.Host)); err != nil {
			return fmt.Errorf("starttls: %w", err)
		}
	}
	if cfg.User != "" {
		if err := client.Auth(smtp.PlainAuth("", cfg.User, cfg.Password, cfg.Host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if err := client.Mail(from); err != nil {
		return fmt.Errorf("MAIL: %w", err)
	}
	if err := client.Rcpt(to); err != nil {
		return fmt.Errorf("RCPT: %w", err)
	}
	w, err := client.Data()
	if err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if _, err := w.Write(msg); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("DATA: %w", err)
	}
	return client.Quit()
}
