// Command labhello is the test workload of labctl's Kubernetes scenarios: an
// HTTP server on :8080 that answers with the name of the host it runs on (in
// a pod, the pod's name), so a check can tell which pod answered.
package main

import (
	"fmt"
	"log"
	"net/http"
	"os"
)

func main() {
	name, err := os.Hostname()
	if err != nil {
		log.Fatal(err)
	}
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "labhello from %s\n", name)
	})
	log.Printf("labhello %s listening on :8080", name)
	log.Fatal(http.ListenAndServe(":8080", nil))
}
