"""The run core: what one flywheel run is, without Airflow.

Typed models of what a run reads and writes (``models``), the pipeline spec the DAG factory renders
(``spec``), the GPU lease (``lease``) and the experiment step as a state machine over the platform port
(``experiment``). The Airflow adapter (``flywheel.airflow``) feeds them task context and turns their
answers into deferrals and XComs.
"""
