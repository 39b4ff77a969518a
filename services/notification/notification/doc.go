// Package notification is the notification service's domain: what an event asks to be
// said (Trigger), to whom and on which channels (Route: verified contacts, the customer's
// preferences, the operators for alerts), the queued messages and their states, the
// retry schedule, the senders' interface, and the use cases over a Store (the workers that
// send, and the queries and repairs of the API). It imports no gRPC, no pgx and no
// generated code: notificationevents turns events into triggers and contact updates,
// notificationtmpl renders messages, notificationpg stores the queue, smtpsender and
// smssender deliver.
package notification
