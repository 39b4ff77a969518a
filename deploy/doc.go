// Package deploy holds Waybill's Kubernetes manifests (deploy/k8s), the JSON schemas they
// are validated against offline (deploy/schemas, made by deploy/schemagen) and the tests
// of the rules the schemas cannot express (deploy_test.go): every service of the mesh is
// deployed, probes and Services point at real ports, selectors select, the HPAs' bounds
// fit each PostgreSQL's connections, every secret and variable exists. scripts/deploy-check.sh
// runs both. See docs/scaling.md for what the numbers should be at 100x the load.
package deploy
