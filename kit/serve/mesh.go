package serve

import "fmt"

// Ports are a process's default loopback ports in the local mesh.
type Ports struct {
	// GRPC is the gRPC server's port.
	GRPC int
	// HTTP is the metrics and health HTTP port (the gateway's REST port for the gateway).
	HTTP int
}

// DefaultPorts returns the default loopback ports of the named process of the mesh (a
// service, or "gateway"), and false for a name the mesh does not know. It is the one
// table of the mesh's addresses: `waybill up`, each service's flags for the services it
// calls, and the gateway's defaults all read it.
func DefaultPorts(name string) (Ports, bool) {
	switch name {
	case "booking":
		return Ports{GRPC: 7001, HTTP: 9001}, true
	case "matching":
		return Ports{GRPC: 7002, HTTP: 9002}, true
	case "trip":
		return Ports{GRPC: 7003, HTTP: 9003}, true
	case "fare":
		return Ports{GRPC: 7004, HTTP: 9004}, true
	case "billing":
		return Ports{GRPC: 7005, HTTP: 9005}, true
	case "payment":
		return Ports{GRPC: 7006, HTTP: 9006}, true
	case "account":
		return Ports{GRPC: 7007, HTTP: 9007}, true
	case "analytics":
		return Ports{GRPC: 7008, HTTP: 9008}, true
	case "notification":
		return Ports{GRPC: 7009, HTTP: 9009}, true
	case "gateway":
		return Ports{HTTP: 8080}, true
	}
	return Ports{}, false
}

// DefaultAddr returns the default gRPC address of the named service in the local mesh,
// for example "127.0.0.1:7004" for fare; empty for a name the mesh does not know.
func DefaultAddr(name string) string {
	p, ok := DefaultPorts(name)
	if !ok || p.GRPC == 0 {
		return ""
	}
	return fmt.Sprintf("127.0.0.1:%d", p.GRPC)
}
