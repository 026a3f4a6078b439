package messaging

import (
	"bytes"
	"io"
	"net/mail"
	"strings"
	"testing"
)

func TestBuildMessageCarriesThePoolbenchHeadersAndBothParts(t *testing.T) {
	event, err := ParseEvent([]byte(`{"type":"welcome","message":{"id":"id-1","from":"a@x.test",` +
		`"to":"b@y.test","subject":"Hi\r\nBcc: evil@z.test","data":{"name":"Ana","code":"<b>7</b>"}}}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := BuildMessage(event, Trace{ID: "id-1", IntendedNs: "123"}, 456)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	for key, want := range map[string]string{EmailHeaderID: "id-1", EmailHeaderIntendedNs: "123", EmailHeaderStartedNs: "456"} {
		if got := msg.Header.Get(key); got != want {
			t.Errorf("%s = %q, want %q", key, got, want)
		}
	}
	if msg.Header.Get("Bcc") != "" {
		t.Error("a subject with CRLF added a header")
	}
	if !strings.HasPrefix(msg.Header.Get("Content-Type"), "multipart/alternative;") {
		t.Errorf("Content-Type %q", msg.Header.Get("Content-Type"))
	}
	body, _ := io.ReadAll(msg.Body)
	for _, want := range []string{"text/plain", "text/html", "Hello Ana", "&lt;b&gt;7&lt;/b&gt;"} {
		if !bytes.Contains(body, []byte(want)) {
			t.Errorf("body lacks %q", want)
		}
	}
}

func TestParseEventRejectsEventsWithoutAddresses(t *testing.T) {
	for _, value := range []string{`{`, `{"type":"welcome","message":{"id":"x","from":"a@x"}}`} {
		if _, err := ParseEvent([]byte(value)); err == nil {
			t.Errorf("ParseEvent(%s) accepted", value)
		}
	}
}
