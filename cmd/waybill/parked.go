package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"

	eventsv1 "github.com/waybill/waybill/gen/waybill/events/v1"
	"github.com/waybill/waybill/kit/auth"
	"github.com/waybill/waybill/kit/config"
	"github.com/waybill/waybill/kit/grpcclient"
	"github.com/waybill/waybill/kit/serve"
)

// parkedUsage is the help text of `waybill parked`.
const parkedUsage = `usage: waybill parked <command> --addr HOST:PORT [flags] [ID...]

Inspect and repair a consuming service's dead-letter queue: events whose handler kept
failing, and the later events of their keys parked behind them.

commands:
  list      list parked events, oldest first
              [--consumer NAME] [--page-size N] [--page-token T] [--all] [--json]
  replay    run the handler again for the given parked events (each key oldest first);
            those that succeed leave the queue
              [--consumer NAME] (ID... | --all)
  discard   remove the given parked events without running the handler
              ID...

flags common to every command:
  --addr HOST:PORT   the consuming service's gRPC address (required)
  --service NAME     the service's name (optional; checked by the server)
  --timeout D        deadline of the call (default 1m)
  --token T          bearer token of an operator or service (the waybill command
                     mints an operator token from the shared auth secret when unset)

Flags come before the ids.
`

// parked runs `waybill parked`, calling as an operator (see withOperatorToken).
func parked(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	args, err := withOperatorToken(args, getenv)
	if err != nil {
		return err
	}
	return parkedCommand(ctx, args, stdout)
}

// withOperatorToken adds --token with an operator token signed with the shared secret
// (WAYBILL_AUTH_SECRET, or the development one) to a parked command's arguments, unless
// they carry a token already.
func withOperatorToken(args []string, getenv func(string) string) ([]string, error) {
	if len(args) == 0 || slices.ContainsFunc(args, func(a string) bool { return a == "--token" || strings.HasPrefix(a, "--token=") }) {
		return args, nil
	}
	secret := getenv(config.EnvName("auth-secret"))
	if secret == "" {
		secret = serve.DevAuthSecret
	}
	signer, err := auth.NewSigner(secret)
	if err != nil {
		return nil, err
	}
	tok, err := signer.Sign(auth.Identity{Subject: "waybill-cli", Role: auth.RoleOperator}, 10*time.Minute)
	if err != nil {
		return nil, err
	}
	return append([]string{args[0], "--token", tok}, args[1:]...), nil
}

// parkedCommand runs the `waybill parked` command: args are the arguments after "parked"
// (a command, list, replay or discard, then its flags and ids). It calls the
// ConsumerAdminService at --addr and writes the result to stdout. It returns an error for
// bad usage (with the usage text) and for a failed call (with the status code and
// message); `-h` prints the usage and returns nil.
func parkedCommand(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("missing command\n\n" + parkedUsage)
	}
	cmd, rest := args[0], args[1:]
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		_, err := io.WriteString(stdout, parkedUsage)
		return err
	}
	fs := flag.NewFlagSet("waybill parked "+cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	addr := fs.String("addr", "", "")
	service := fs.String("service", "", "")
	timeout := fs.Duration("timeout", time.Minute, "")
	token := fs.String("token", "", "")
	var consumer, pageToken *string
	var pageSize *int
	var all, asJSON *bool
	switch cmd {
	case "list":
		consumer = fs.String("consumer", "", "")
		pageSize = fs.Int("page-size", 0, "")
		pageToken = fs.String("page-token", "", "")
		all = fs.Bool("all", false, "")
		asJSON = fs.Bool("json", false, "")
	case "replay":
		consumer = fs.String("consumer", "", "")
		all = fs.Bool("all", false, "")
	case "discard":
	default:
		return fmt.Errorf("unknown command %q\n\n%s", cmd, parkedUsage)
	}
	if err := fs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			_, err := io.WriteString(stdout, parkedUsage)
			return err
		}
		return fmt.Errorf("%v\n\n%s", err, parkedUsage)
	}
	if *addr == "" {
		return errors.New("--addr is required\n\n" + parkedUsage)
	}
	ids := fs.Args()
	switch {
	case cmd == "list" && len(ids) > 0:
		return fmt.Errorf("list takes no ids (got %q)\n\n%s", ids, parkedUsage)
	case cmd == "replay" && len(ids) == 0 && !*all:
		return errors.New("replay needs ids, or --all to replay every parked event\n\n" + parkedUsage)
	case cmd == "replay" && len(ids) > 0 && *all:
		return errors.New("replay takes ids or --all, not both\n\n" + parkedUsage)
	case cmd == "discard" && len(ids) == 0:
		return errors.New("discard needs at least one id\n\n" + parkedUsage)
	}

	conn, err := grpcclient.Dial(*addr, grpcclient.Options{Timeout: *timeout})
	if err != nil {
		return err
	}
	defer conn.Close()
	client := eventsv1.NewConsumerAdminServiceClient(conn)
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	if *token != "" {
		ctx = metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+*token)
	}

	switch cmd {
	case "list":
		return listParked(ctx, client, stdout, &eventsv1.ListParkedEventsRequest{
			Service: *service, Consumer: *consumer, PageSize: int32(*pageSize), PageToken: *pageToken,
		}, *all, *asJSON)
	case "replay":
		resp, err := client.ReplayParkedEvents(ctx, &eventsv1.ReplayParkedEventsRequest{Service: *service, Ids: ids, Consumer: *consumer})
		if err != nil {
			return parkedCallError("replay", err)
		}
		_, err = fmt.Fprintf(stdout, "replayed %d, failed %d\n", resp.GetReplayedCount(), resp.GetFailedCount())
		return err
	default: // discard
		resp, err := client.DiscardParkedEvents(ctx, &eventsv1.DiscardParkedEventsRequest{Service: *service, Ids: ids})
		if err != nil {
			return parkedCallError("discard", err)
		}
		_, err = fmt.Fprintf(stdout, "discarded %d\n", resp.GetDiscardedCount())
		return err
	}
}

// listParked prints one page of parked events, or every page with all: a table, or one
// JSON object per line.
func listParked(ctx context.Context, client eventsv1.ConsumerAdminServiceClient, stdout io.Writer, req *eventsv1.ListParkedEventsRequest, all, asJSON bool) error {
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	if !asJSON {
		fmt.Fprintln(tw, "ID\tCONSUMER\tSOURCE\tSEQ\tTYPE\tKEY\tATTEMPTS\tPARKED\tERROR")
	}
	for {
		resp, err := client.ListParkedEvents(ctx, req)
		if err != nil {
			return parkedCallError("list", err)
		}
		for _, p := range resp.GetParkedEvents() {
			if asJSON {
				b, err := protojson.Marshal(p)
				if err != nil {
					return err
				}
				if _, err := fmt.Fprintf(stdout, "%s\n", b); err != nil {
					return err
				}
				continue
			}
			errText := p.GetError()
			if errText == "" {
				errText = "(waiting behind parked event)" // parked to keep its key's order
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", p.GetId(), p.GetConsumer(), p.GetSource(),
				p.GetEvent().GetSequence(), p.GetEvent().GetType(), p.GetEvent().GetKey(), p.GetAttempts(),
				p.GetParkTime().AsTime().Local().Format(time.DateTime), oneLine(errText))
		}
		req.PageToken = resp.GetNextPageToken()
		if req.PageToken == "" {
			break
		}
		if !all {
			if !asJSON {
				fmt.Fprintf(tw, "\nmore: --page-token %s\n", req.PageToken)
			}
			break
		}
	}
	return tw.Flush()
}

// parkedCallError describes a failed admin call by its status code and message.
func parkedCallError(what string, err error) error {
	st := status.Convert(err)
	return fmt.Errorf("%s parked events: %s: %s", what, st.Code(), st.Message())
}

// oneLine keeps a table row on one line.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}
