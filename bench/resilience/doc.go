// Package resiliencebench measures the resilience package against failsafe-go and
// sony/gobreaker guarding the same call in the same run. See bench/resilience.sh.
package resiliencebench
